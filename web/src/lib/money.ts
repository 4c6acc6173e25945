// Prices are integer cents (USD) everywhere; people type dollars. Both directions use integer arithmetic on the
// digits only, never floating point, so "0.29" is 29 cents and not 28.999999999999996.

export const MIN_PRICE_CENTS = 50;
export const MAX_PRICE_CENTS = 99_999_999;

export type CentsResult = { ok: true; cents: number } | { ok: false; message: string };

// "25", "25.5", "25.00", "$1,234.56": digits with optional comma grouping, then at most two decimals.
const DOLLARS = /^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{0,2}))?$/;

/** Dollars as typed (e.g. "25.00") to integer cents, exactly; or why the text is not an amount of dollars. */
export function dollarsToCents(text: string): CentsResult {
  const trimmed = text.trim();
  if (trimmed === "") {
    return { ok: false, message: "Enter a price in dollars, such as 25.00" };
  }
  const match = DOLLARS.exec(trimmed);
  if (!match) {
    if (/^-/.test(trimmed)) {
      return { ok: false, message: "The price cannot be negative" };
    }
    if (/^\$?\s*[\d,]*\.\d{3,}$/.test(trimmed)) {
      return { ok: false, message: "Use at most two decimal places (whole cents)" };
    }
    return { ok: false, message: "Enter a price in dollars, such as 25.00" };
  }
  const whole = (match[1] ?? "").replaceAll(",", "").replace(/^0+(?=\d)/, "");
  const fraction = (match[2] ?? "").padEnd(2, "0");
  if (whole.length > 13) {
    return { ok: false, message: "That amount is too large" }; // beyond exact integers: no price is that high
  }
  return { ok: true, cents: Number(whole) * 100 + Number(fraction) };
}

/** A ticket price as typed, in integer cents within the marketplace's range (SPEC: 50 to 99,999,999). */
export function priceToCents(text: string): CentsResult {
  const parsed = dollarsToCents(text);
  if (!parsed.ok) {
    return parsed;
  }
  const { cents } = parsed;
  if (cents < MIN_PRICE_CENTS) {
    return { ok: false, message: `The price must be at least ${formatCents(MIN_PRICE_CENTS)}` };
  }
  if (cents > MAX_PRICE_CENTS) {
    return { ok: false, message: `The price can be at most ${formatCents(MAX_PRICE_CENTS)}` };
  }
  return parsed;
}

/** Integer cents as US dollars: 123456 -> "$1,234.56", -5 -> "-$0.05". */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) {
    throw new RangeError(`not a whole number of cents: ${cents}`);
  }
  const sign = cents < 0 ? "-" : "";
  const magnitude = Math.abs(cents);
  const dollars = String(Math.trunc(magnitude / 100)).replace(/\B(?=(\d{3})+$)/g, ",");
  const remainder = String(magnitude % 100).padStart(2, "0");
  return `${sign}$${dollars}.${remainder}`;
}
