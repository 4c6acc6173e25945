// Publishes the persisted-documents manifest the codegen wrote (src/gql/persisted-documents.json) as
// web/persisted-documents.json, the file the gateway reads, after checking that every key is the sha256 hex of
// its document's exact text.
//
//   node scripts/manifest.mjs write   copy it (run by `npm run codegen`)
//   node scripts/manifest.mjs check   fail when the published file differs (run by `npm run codegen:check`)
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const generated = new URL("../src/gql/persisted-documents.json", import.meta.url);
const published = new URL("../persisted-documents.json", import.meta.url);

const documents = JSON.parse(readFileSync(generated, "utf8"));
for (const [hash, text] of Object.entries(documents)) {
  const actual = createHash("sha256").update(text, "utf8").digest("hex");
  if (actual !== hash) {
    throw new Error(`manifest entry ${hash} is not the sha256 of its document (${actual})`);
  }
}
const sorted = Object.fromEntries(Object.entries(documents).sort(([a], [b]) => a.localeCompare(b)));
const text = `${JSON.stringify(sorted, null, 2)}\n`;

const mode = process.argv[2];
if (mode === "write") {
  writeFileSync(published, text);
  console.log(`persisted-documents.json: ${Object.keys(sorted).length} documents`);
} else if (mode === "check") {
  let current = "";
  try {
    current = readFileSync(published, "utf8");
  } catch {
    // missing: reported below
  }
  if (current !== text) {
    console.error("web/persisted-documents.json is out of date: run `npm run codegen` in web/ and commit it");
    process.exit(1);
  }
} else {
  console.error("usage: node scripts/manifest.mjs write|check");
  process.exit(2);
}
