import assert from "node:assert/strict";
import { describe, it } from "mocha";
import {
  ceilDiv,
  fiatCents,
  formatDecimal,
  parseDecimal,
  parseUsdCents,
  quoteAmount,
  roundUpToPrecision,
} from "../../server/src/lib/money.ts";

describe("money helpers", function () {
  it("parses USD amounts into cents exactly and rejects malformed ones", function () {
    assert.equal(parseUsdCents("13.54"), 1354n);
    assert.equal(parseUsdCents("13.5"), 1350n);
    assert.equal(parseUsdCents("7"), 700n);
    assert.equal(parseUsdCents("0.01"), 1n);
    for (const bad of ["", "1.234", "-1", "1e3", " 1", "01", "1.", ".5", "NaN", "1,00", "999999999999999"]) {
      assert.equal(parseUsdCents(bad), undefined, bad);
    }
  });

  it("formats and parses scaled decimals without floats", function () {
    assert.equal(formatDecimal(333333333333334n, 18), "0.000333333333333334");
    assert.equal(formatDecimal(300000000000n, 8, 2), "3000.00");
    assert.equal(formatDecimal(698000000n, 8, 2), "6.98");
    assert.equal(formatDecimal(0n, 18), "0");
    assert.equal(parseDecimal("3000.12345678", 8), 300012345678n);
    assert.equal(parseDecimal("1", 6), 1_000_000n);
    assert.throws(() => parseDecimal("0.123", 2));
  });

  it("rounds a quote up to a precision a customer can read, never down", function () {
    // 1/3000 ETH = 0.000333333333333334 → 0.00033334 at 8 decimals.
    assert.equal(roundUpToPrecision(333333333333334n, 18, 8), 333340000000000n);
    assert.equal(roundUpToPrecision(10n ** 16n, 18, 8), 10n ** 16n, "already short: unchanged");
    assert.equal(roundUpToPrecision(1n, 18, 8), 10n ** 10n, "the smallest amount rounds up to 1e-8");
    assert.equal(roundUpToPrecision(13_540_001n, 6, 8), 13_540_001n, "USDC has fewer decimals");
    assert.equal(roundUpToPrecision(13_540_001n, 6, 2), 13_550_000n);
  });

  it("rounds quotes up by at most one smallest unit", function () {
    // $1.00 at $3000: 1/3000 ETH = 333333333333333.33… wei → 333333333333334.
    assert.equal(quoteAmount(100n, 3000_00000000n, 8, 18), 333333333333334n);
    // An exact quote is not rounded: $30.00 at $3000 = 0.01 ETH.
    assert.equal(quoteAmount(3000n, 3000_00000000n, 8, 18), 10n ** 16n);
    // USDC at a peg of 1: $13.54 = 13.54 USDC.
    assert.equal(quoteAmount(1354n, 1_00000000n, 8, 6), 13_540_000n);
    for (let cents = 1n; cents < 2_000n; cents += 37n) {
      for (const price of [1n, 7n, 69_98000000n, 3000_12345678n]) {
        const wei = quoteAmount(cents, price, 8, 18);
        // wei × price ≥ cents × 10^26 / 100 (never less than the USD amount), and one wei less would be.
        assert.ok(wei * 100n * price >= cents * 10n ** 26n);
        assert.ok((wei - 1n) * 100n * price < cents * 10n ** 26n);
      }
    }
    assert.equal(ceilDiv(10n, 3n), 4n);
    assert.equal(ceilDiv(9n, 3n), 3n);
  });

  it("values a coin amount in fiat cents at a rate, rounding half-up, exactly", function () {
    // 0.01 ETH at 2000.00 USD (price 200000, 2 decimals) = 20.00 USD.
    assert.equal(fiatCents(10n ** 16n, 18, 200000n, 2), 2000n);
    // 15.5 USDC at 1 USD (price 100000000, 8 decimals) = 15.50 USD.
    assert.equal(fiatCents(15_500_000n, 6, 100000000n, 8), 1550n);
    // Half a cent rounds up, just under half rounds down: 0.005 USD and 0.004999… USD.
    assert.equal(fiatCents(5n, 3, 1n, 0), 1n);
    assert.equal(fiatCents(4_999_999n, 9, 1n, 0), 0n);
    // 1 wei at 3000 USD is no cent; 10^36 wei (far beyond a float's exact range) stays exact.
    assert.equal(fiatCents(1n, 18, 3000n, 0), 0n);
    assert.equal(fiatCents(10n ** 36n, 18, 3000n, 0), 300_000n * 10n ** 18n);
    assert.equal(fiatCents(0n, 18, 3000n, 0), 0n);
    assert.throws(() => fiatCents(-1n, 18, 3000n, 0), RangeError);
  });
});
