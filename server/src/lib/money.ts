/**
 * Exact money helpers. Amounts are bigint in the smallest unit; decimal strings exist only at
 * the API edge. Nothing here ever touches a JS number.
 */

const USD_PATTERN = /^(0|[1-9]\d{0,11})(?:\.(\d{1,2}))?$/;

/** Parses a USD amount like "13.54" into cents, or returns undefined when malformed. */
export function parseUsdCents(value: string): bigint | undefined {
  const match = USD_PATTERN.exec(value);
  if (!match) return undefined;
  const [, whole = "0", fraction = ""] = match;
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0"));
}

export function formatUsdCents(cents: bigint): string {
  return `${cents / 100n}.${(cents % 100n).toString().padStart(2, "0")}`;
}

/** Parses a non-negative decimal string into a scaled bigint (value × 10^decimals), exactly. */
export function parseDecimal(value: string, decimals: number): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match) throw new Error(`not a decimal: "${value}"`);
  const [, whole = "0", fraction = ""] = match;
  if (fraction.length > decimals && /[1-9]/.test(fraction.slice(decimals))) {
    throw new Error(`"${value}" has more than ${decimals} decimal places`);
  }
  return (
    BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.slice(0, decimals).padEnd(decimals, "0") || "0")
  );
}

/**
 * Formats a scaled bigint as an exact decimal: trailing zeros trimmed, but at least
 * `minFraction` fraction digits ("0.4173", "3000.00").
 */
export function formatDecimal(value: bigint, decimals: number, minFraction = 0): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const base = 10n ** BigInt(decimals);
  const whole = abs / base;
  let fraction = decimals > 0 ? (abs % base).toString().padStart(decimals, "0").replace(/0+$/, "") : "";
  if (fraction.length < minFraction) fraction = fraction.padEnd(minFraction, "0");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** Integer division rounding up, for amounts the customer owes (the merchant never gets less). */
export function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n || numerator < 0n) throw new RangeError("ceilDiv expects a >= 0 and b > 0");
  return (numerator + denominator - 1n) / denominator;
}

/**
 * The amount owed for `usdCents` at a price of `price / 10^priceDecimals` USD per whole token of
 * `tokenDecimals`: ceil(cents × 10^(tokenDecimals + priceDecimals) / (100 × price)).
 * Rounding up by at most one smallest unit (1 wei) guarantees the merchant at least the USD
 * amount at the locked rate.
 */
export function quoteAmount(
  usdCents: bigint,
  price: bigint,
  priceDecimals: number,
  tokenDecimals: number,
): bigint {
  if (price <= 0n) throw new RangeError("price must be positive");
  return ceilDiv(usdCents * 10n ** BigInt(tokenDecimals + priceDecimals), 100n * price);
}

/**
 * `amount` (in units of `decimals`) rounded UP to at most `precision` decimals, so a customer
 * reads and types a short amount ("0.00033334", not "0.000333333333333334") and the merchant
 * never gets less than the quote. A precision at or above `decimals` leaves the amount as it is.
 */
export function roundUpToPrecision(amount: bigint, decimals: number, precision: number): bigint {
  if (precision >= decimals) return amount;
  const step = 10n ** BigInt(decimals - precision);
  return ceilDiv(amount, step) * step;
}

/**
 * The fiat value, in cents, of `amount` (in units of `tokenDecimals`) at a rate of
 * `price / 10^priceDecimals` fiat per whole token, rounded half-up to the cent:
 * round(amount × price × 100 / 10^(tokenDecimals + priceDecimals)).
 */
export function fiatCents(
  amount: bigint,
  tokenDecimals: number,
  price: bigint,
  priceDecimals: number,
): bigint {
  if (amount < 0n || price < 0n) throw new RangeError("fiatCents expects a non-negative amount and price");
  const denominator = 10n ** BigInt(tokenDecimals + priceDecimals);
  return (amount * price * 200n + denominator) / (2n * denominator);
}
