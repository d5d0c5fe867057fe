/**
 * Fiat currencies an order can be priced in. An order's `currency` is the ISO 4217 code in lower
 * case ("usd", "eur"); its amount is a decimal string with at most the currency's minor-unit digits.
 * USD is the base: every other currency is converted through its X/USD rate.
 */

/** ISO 4217 minor units of the fiat currencies we know (2 unless listed otherwise). */
const MINOR_UNITS: Readonly<Record<string, number>> = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  BRL: 2,
  CHF: 2,
  CAD: 2,
  AUD: 2,
  NZD: 2,
  MXN: 2,
  ARS: 2,
  COP: 2,
  CLP: 0,
  PEN: 2,
  JPY: 0,
  KRW: 0,
  CNY: 2,
  HKD: 2,
  SGD: 2,
  INR: 2,
  IDR: 2,
  PHP: 2,
  THB: 2,
  TRY: 2,
  ZAR: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  CZK: 2,
  HUF: 2,
  RON: 2,
  ILS: 2,
  AED: 2,
  SAR: 2,
  NGN: 2,
  KES: 2,
};

/** Every fiat code we know (upper case): a pair whose base is one of these is a fiat rate. */
export const FIAT_CODES: readonly string[] = Object.keys(MINOR_UNITS);

export const isFiat = (code: string): boolean => code.toUpperCase() in MINOR_UNITS;

/** Digits after the decimal point of `currency`'s amounts (JPY 0, EUR 2). */
export const minorUnits = (currency: string): number => MINOR_UNITS[currency.toUpperCase()] ?? 2;

/**
 * Parses a fiat amount ("13.54"; "1500" for JPY) into minor units, or undefined when it is not a
 * plain decimal with at most the currency's minor-unit digits.
 */
export function parseFiatAmount(value: string, currency: string): bigint | undefined {
  const digits = minorUnits(currency);
  const match = /^(0|[1-9]\d{0,14})(?:\.(\d+))?$/.exec(value);
  if (!match) return undefined;
  const [, whole = "0", fraction] = match;
  if (fraction !== undefined && (digits === 0 || fraction.length > digits)) return undefined;
  return BigInt(whole) * 10n ** BigInt(digits) + BigInt((fraction ?? "").padEnd(digits, "0") || "0");
}

/** Minor units as the currency's decimal string ("13.54", "1500"). */
export function formatFiatAmount(minor: bigint, currency: string): string {
  const digits = minorUnits(currency);
  if (digits === 0) return minor.toString();
  const base = 10n ** BigInt(digits);
  return `${minor / base}.${(minor % base).toString().padStart(digits, "0")}`;
}
