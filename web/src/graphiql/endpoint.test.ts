import { afterEach, describe, expect, it, vi } from "vitest";
import { fetchWithSession, websocketUrl } from "./endpoint";

describe("websocketUrl", () => {
  it("is the page's own host and /graphql, wss under https", () => {
    expect(websocketUrl({ protocol: "http:", host: "127.0.0.1:8000" })).toBe("ws://127.0.0.1:8000/graphql");
    expect(websocketUrl({ protocol: "https:", host: "tickets.example" })).toBe("wss://tickets.example/graphql");
  });
});

describe("fetchWithSession", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("sends the cookie (same-origin credentials) and keeps GraphiQL's options", async () => {
    const fetch = vi.fn(() => Promise.resolve(new Response("{}")));
    vi.stubGlobal("fetch", fetch);
    await fetchWithSession("/graphql", { method: "POST", body: "{}" });
    expect(fetch).toHaveBeenCalledWith("/graphql", { method: "POST", body: "{}", credentials: "same-origin" });
  });
});
