import { describe, expect, it } from "vitest";
import { describeCountdown, formatCountdown, secondsLeft } from "./countdown";

describe("secondsLeft", () => {
  const expiresAt = "2030-01-01T00:15:00+00:00";
  const at = (iso: string) => Date.parse(iso);

  it("counts whole seconds up to the expiry, rounding a partial second up", () => {
    expect(secondsLeft(expiresAt, at("2030-01-01T00:00:00Z"))).toBe(900);
    expect(secondsLeft(expiresAt, at("2030-01-01T00:14:59.001Z"))).toBe(1);
    expect(secondsLeft(expiresAt, at("2030-01-01T00:15:00Z"))).toBe(0);
  });

  it("never goes below zero", () => {
    expect(secondsLeft(expiresAt, at("2030-01-01T01:00:00Z"))).toBe(0);
  });

  it("reads the gateway's isoformat with microseconds and no zone designator as given", () => {
    expect(secondsLeft("2030-01-01T00:00:10.500000+00:00", at("2030-01-01T00:00:00Z"))).toBe(11);
  });

  it("treats an unreadable date as expired", () => {
    expect(secondsLeft("not a date", 0)).toBe(0);
  });
});

describe("formatCountdown", () => {
  it.each([
    [0, "0:00"],
    [5, "0:05"],
    [59, "0:59"],
    [60, "1:00"],
    [754, "12:34"],
    [900, "15:00"],
    [3599, "59:59"],
    [3600, "1:00:00"],
    [3725, "1:02:05"],
    [-3, "0:00"],
    [9.9, "0:09"],
    [Number.NaN, "0:00"],
  ])("%d seconds is %s", (seconds, text) => {
    expect(formatCountdown(seconds)).toBe(text);
  });
});

describe("describeCountdown", () => {
  it.each([
    [0, "0 seconds"],
    [1, "1 second"],
    [61, "1 minute 1 second"],
    [754, "12 minutes 34 seconds"],
    [3600, "1 hour"],
    [7325, "2 hours 2 minutes 5 seconds"],
  ])("%d seconds is %s", (seconds, text) => {
    expect(describeCountdown(seconds)).toBe(text);
  });
});
