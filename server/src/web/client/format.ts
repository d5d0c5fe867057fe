// Exact formatting for the console: money arrives as decimal strings and is never a JS number.
// Intl formats the integer part (a BigInt, so grouping and currency signs are the locale's) and the
// fraction digits are written as they are, after the locale's decimal separator.

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

function decimalSeparator(locale: string): string {
  return new Intl.NumberFormat(locale).formatToParts(1.5).find((p) => p.type === "decimal")?.value ?? ".";
}

/**
 * A decimal string in `locale`, exactly: "1234.5" is "1,234.5" in English, "1.234,5" in
 * Portuguese. With `currency` it is money: the currency's sign and its minor-unit digits
 * ("$1,234.50", "US$ 1.234,50"), rounded half up to them; without, every digit given is kept.
 */
export function formatDecimal(locale: string, value: string, options: { currency?: string } = {}): string {
  const match = DECIMAL.exec(value.trim());
  if (!match) return value;
  const [, sign = "", whole = "0", given = ""] = match;
  let integer = BigInt(whole);
  let fraction = given.replace(/0+$/, "");
  if (options.currency) {
    const digits =
      new Intl.NumberFormat("en", { style: "currency", currency: options.currency }).resolvedOptions()
        .minimumFractionDigits ?? 2;
    const scale = 10n ** BigInt(digits);
    const scaled = integer * scale + BigInt((given + "0".repeat(digits)).slice(0, digits) || "0");
    const roundUp = given.length > digits && Number(given[digits]) >= 5 ? 1n : 0n;
    const total = scaled + roundUp;
    integer = total / scale;
    fraction = digits > 0 ? (total % scale).toString().padStart(digits, "0") : "";
  }
  const negative = sign === "-" && (integer !== 0n || /[1-9]/.test(fraction));
  const format = new Intl.NumberFormat(locale, {
    ...(options.currency ? { style: "currency", currency: options.currency } : {}),
    minimumFractionDigits: 0,
    maximumFractionDigits: 0,
  });
  // -1 gives the parts of a negative number (the locale's minus sign and where it goes).
  const parts = format.formatToParts(negative ? -1n : 1n);
  const intParts = format.formatToParts(integer).filter((p) => p.type === "integer" || p.type === "group");
  const out: string[] = [];
  for (const part of parts) {
    if (part.type === "integer") {
      out.push(intParts.map((p) => p.value).join(""));
      if (fraction) out.push(decimalSeparator(locale), fraction);
    } else out.push(part.value);
  }
  return out.join("");
}

/** A non-negative decimal string as a bigint scaled by 10^scale (digits past it cut off). */
function scaled(value: string, scale: number): bigint {
  const match = DECIMAL.exec(value.trim());
  if (!match || match[1] === "-") throw new RangeError(`not a non-negative decimal: "${value}"`);
  const [, , whole = "0", fraction = ""] = match;
  return BigInt(whole) * 10n ** BigInt(scale) + BigInt((fraction + "0".repeat(scale)).slice(0, scale) || "0");
}

/** The decimal string `amount × rate`, rounded half up to `digits` fraction digits (bigint math). */
export function multiplyDecimals(amount: string, rate: string, digits = 2): string {
  const scale = 36;
  const product = scaled(amount, scale) * scaled(rate, scale); // scaled by 10^(2 × scale)
  const unit = 10n ** BigInt(2 * scale - digits);
  const rounded = (product + unit / 2n) / unit;
  const base = 10n ** BigInt(digits);
  const fraction = digits > 0 ? `.${(rounded % base).toString().padStart(digits, "0")}` : "";
  return `${rounded / base}${fraction}`;
}

/** Adds decimal strings exactly; the result has `digits` fraction digits. */
export function addDecimals(values: readonly string[], digits = 2): string {
  const scale = 36;
  const total = values.reduce((sum, v) => sum + scaled(v, scale), 0n);
  const unit = 10n ** BigInt(scale - digits);
  const rounded = (total + unit / 2n) / unit;
  const base = 10n ** BigInt(digits);
  return `${rounded / base}${digits > 0 ? `.${(rounded % base).toString().padStart(digits, "0")}` : ""}`;
}

/** Compares two non-negative decimal strings. */
export function compareDecimals(a: string, b: string): number {
  const x = scaled(a, 36);
  const y = scaled(b, 36);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * `part / whole` of a chart's height, in pixels with two decimals: geometry, not money, so a float
 * is fine here once the exact ratio is taken with bigints.
 */
export function share(part: string, whole: string, pixels: number): number {
  const w = scaled(whole, 18);
  if (w === 0n) return 0;
  return Number((scaled(part, 18) * BigInt(Math.round(pixels * 100))) / w) / 100;
}

/** 0x14dC79964da2C08b23698B3D3cc7Ca32193d9955 → 0x14dC…9955. */
export const shortHex = (value: string) =>
  value.length > 14 ? `${value.slice(0, 6)}…${value.slice(-4)}` : value;
