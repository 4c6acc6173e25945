import { describe, expect, it } from "vitest";
import { dollarsToCents, formatCents, MAX_PRICE_CENTS, MIN_PRICE_CENTS, priceToCents } from "./money";

describe("dollarsToCents", () => {
  it.each([
    ["25", 2500],
    ["25.00", 2500],
    ["25.5", 2550],
    ["25.", 2500],
    ["0", 0],
    ["0.01", 1],
    ["0.50", 50],
    ["0.29", 29], // 0.29 * 100 is 28.999999999999996 in floating point
    ["1.15", 115], // and 1.15 * 100 is 114.99999999999999
    ["19.99", 1999],
    ["4.35", 435],
    [" 12.34 ", 1234],
    ["$12.34", 1234],
    ["$ 7", 700],
    ["1,234.56", 123456],
    ["999,999.99", MAX_PRICE_CENTS],
    ["999999.99", MAX_PRICE_CENTS],
    ["9999999999999.99", 999_999_999_999_999],
    ["0000012.30", 1230],
  ])("%j is %i cents", (text, cents) => {
    expect(dollarsToCents(text)).toEqual({ ok: true, cents });
  });

  it.each([
    ["", /enter a price/i],
    ["   ", /enter a price/i],
    ["abc", /enter a price/i],
    ["12.3.4", /enter a price/i],
    ["1e3", /enter a price/i],
    ["0x10", /enter a price/i],
    ["12,34", /enter a price/i],
    ["1,2345.00", /enter a price/i],
    ["Infinity", /enter a price/i],
    ["NaN", /enter a price/i],
    ["1 000", /enter a price/i],
    ["+5", /enter a price/i],
    [".50", /enter a price/i],
    ["-5", /negative/i],
    ["-0.50", /negative/i],
    ["12.345", /two decimal places/i],
    ["0.001", /two decimal places/i],
    ["99999999999999999999", /too large/],
  ])("%j is refused (%s)", (text, message) => {
    const result = dollarsToCents(text);
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.message).toMatch(message);
  });

  it("gives exactly the cents of every price from $0.50 to $20.00 written with two decimals", () => {
    for (let cents = MIN_PRICE_CENTS; cents <= 2000; cents += 1) {
      const text = `${Math.trunc(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
      expect(dollarsToCents(text)).toEqual({ ok: true, cents });
    }
  });
});

describe("priceToCents", () => {
  it.each([
    ["0.50", MIN_PRICE_CENTS],
    ["25.00", 2500],
    ["999,999.99", MAX_PRICE_CENTS],
  ])("%j is a price of %i cents", (text, cents) => {
    expect(priceToCents(text)).toEqual({ ok: true, cents });
  });

  it.each([
    ["0", /at least \$0\.50/],
    ["0.49", /at least \$0\.50/],
    ["1000000.00", /at most \$999,999\.99/],
    ["99999999999999999999", /too large/],
    ["twelve", /enter a price/i],
  ])("%j is not a price (%s)", (text, message) => {
    const result = priceToCents(text);
    expect(result.ok ? "" : result.message).toMatch(message);
  });
});

describe("formatCents", () => {
  it.each([
    [0, "$0.00"],
    [5, "$0.05"],
    [50, "$0.50"],
    [2500, "$25.00"],
    [123456, "$1,234.56"],
    [MAX_PRICE_CENTS, "$999,999.99"],
    [100000000, "$1,000,000.00"],
    [-5, "-$0.05"],
  ])("%i cents is %s", (cents, text) => {
    expect(formatCents(cents)).toBe(text);
  });

  it("refuses fractions of a cent", () => {
    expect(() => formatCents(1.5)).toThrow(RangeError);
    expect(() => formatCents(Number.NaN)).toThrow(RangeError);
  });

  it("round-trips with dollarsToCents", () => {
    for (const cents of [50, 99, 100, 1999, 123456, MAX_PRICE_CENTS]) {
      expect(dollarsToCents(formatCents(cents))).toEqual({ ok: true, cents });
    }
  });
});
