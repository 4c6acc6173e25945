import type { DocumentNode } from "graphql";
import { describe, expect, it } from "vitest";
import manifest from "../../persisted-documents.json";
import * as generated from "../gql/graphql";
import { documentHash, omitPersistedQueryText } from "./client";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const documents = Object.entries(generated).filter(
  (entry): entry is [string, DocumentNode] =>
    typeof entry[1] === "object" && (entry[1] as { kind?: unknown }).kind === "Document",
);
const persisted: Record<string, string> = manifest;

describe("persisted documents", () => {
  it("keys every document by the sha256 hex of its exact text", async () => {
    expect(Object.keys(persisted).length).toBeGreaterThan(0);
    for (const [hash, text] of Object.entries(persisted)) {
      expect(await sha256Hex(text)).toBe(hash);
    }
  });

  it("has exactly the client's operations, which send their hash", () => {
    const hashes = documents.map(([, document]) => documentHash(document));
    expect(hashes.every((hash) => /^[0-9a-f]{64}$/.test(hash))).toBe(true);
    expect(new Set(hashes)).toEqual(new Set(Object.keys(persisted)));
  });

  it("names each operation in its persisted text", () => {
    for (const [name, document] of documents) {
      const operation = name.replace(/Document$/, "");
      expect(persisted[documentHash(document)]).toMatch(new RegExp(`^(query|mutation|subscription) ${operation}\\b`));
    }
  });
});

describe("websocket messages", () => {
  const persistedQuery = { version: 1, sha256Hash: "a".repeat(64) };

  it("name a persisted document by its hash alone", () => {
    const message = { id: "1", type: "subscribe", payload: { query: "", variables: { id: "x" }, extensions: { persistedQuery } } };
    expect(JSON.parse(JSON.stringify(message, omitPersistedQueryText))).toEqual({
      id: "1",
      type: "subscribe",
      payload: { variables: { id: "x" }, extensions: { persistedQuery } },
    });
  });

  it("keep the text when it is sent (a retry after PersistedQueryNotFound) or nothing is persisted", () => {
    const retry = { payload: { query: "subscription S { s }", extensions: { persistedQuery } } };
    expect(JSON.parse(JSON.stringify(retry, omitPersistedQueryText))).toEqual(retry);
    const plain = { payload: { query: "" } };
    expect(JSON.parse(JSON.stringify(plain, omitPersistedQueryText))).toEqual(plain);
  });
});
