// GraphQL Code Generator: typed documents for every operation in src/, from the gateway's checked-in schema.
// The client preset also writes the persisted-documents manifest (sha256 of each document's exact text -> that
// text); scripts/manifest.mjs publishes it as web/persisted-documents.json, which the gateway reads.
import { createHash } from "node:crypto";
import type { CodegenConfig } from "@graphql-codegen/cli";
import { addTypenameSelectionDocumentTransform } from "@graphql-codegen/client-preset";

/** The Apollo persisted-query hash: sha256 hex of the document's exact text (no "sha256:" prefix). */
const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

const config: CodegenConfig = {
  schema: "../gateway/schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: {
        fragmentMasking: false,
        // The hash travels with each document (`__meta__.hash`), so the client never hashes at run time.
        persistedDocuments: { mode: "embedHashInDocument", hashAlgorithm: sha256Hex },
      },
      // urql's document cache adds __typename to queries; adding it here keeps the text we persist identical.
      documentTransforms: [addTypenameSelectionDocumentTransform],
      config: {
        scalars: { DateTime: "string", ID: "string" },
        strictScalars: true,
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: true },
      },
    },
  },
};

export default config;
