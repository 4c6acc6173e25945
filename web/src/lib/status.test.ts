import { describe, expect, it } from "vitest";
import { newest } from "./status";

describe("newest", () => {
  it("takes the highest version, the first one on a tie", () => {
    const a = { version: 1, name: "a" };
    const b = { version: 3, name: "b" };
    const c = { version: 3, name: "c" };
    expect(newest(a, b, c)).toBe(b);
    expect(newest(c, a)).toBe(c);
  });

  it("skips missing views", () => {
    expect(newest(null, undefined)).toBeUndefined();
    expect(newest(undefined, { version: 0 })).toEqual({ version: 0 });
  });
});
