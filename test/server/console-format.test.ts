import assert from "node:assert/strict";
import { describe, it } from "mocha";
import {
  addDecimals,
  formatDecimal,
  multiplyDecimals,
  shortHex,
} from "../../server/src/web/client/format.ts";

/** The console's exact formatting: decimal strings through Intl, never a binary float. */
describe("console number formatting", function () {
  it("formats money in each locale exactly, beyond what a float holds", function () {
    assert.equal(formatDecimal("en", "1234567.5", { currency: "USD" }), "$1,234,567.50");
    assert.equal(formatDecimal("pt-BR", "1234567.5", { currency: "USD" }), "US$\u00a01.234.567,50");
    assert.equal(formatDecimal("es", "1234567.5", { currency: "USD" }), "1.234.567,50\u00a0US$");
    // 2^53 + 1 dollars and a cent: a float would say 9007199254740992.
    assert.equal(
      formatDecimal("en", "9007199254740993.01", { currency: "USD" }),
      "$9,007,199,254,740,993.01",
    );
    // Half up to the currency's cents.
    assert.equal(formatDecimal("en", "0.005", { currency: "USD" }), "$0.01");
    assert.equal(formatDecimal("en", "0.0049", { currency: "USD" }), "$0.00");
    assert.equal(formatDecimal("en", "0", { currency: "JPY" }), "¥0");
  });

  it("keeps every digit of a coin amount", function () {
    assert.equal(formatDecimal("en", "0.000000000000000001"), "0.000000000000000001");
    assert.equal(formatDecimal("pt-BR", "12345.678901234567890123"), "12.345,678901234567890123");
    assert.equal(formatDecimal("en", "0.004"), "0.004");
    assert.equal(formatDecimal("en", "not a number"), "not a number");
  });

  it("multiplies and adds decimal strings exactly", function () {
    assert.equal(multiplyDecimals("0.004976", "2500"), "12.44");
    assert.equal(multiplyDecimals("1.000000000000000001", "2500.5"), "2500.50");
    assert.equal(multiplyDecimals("0.000000000000000001", "2500"), "0.00");
    assert.equal(addDecimals(["0.1", "0.2"]), "0.30");
    assert.equal(addDecimals([]), "0.00");
  });

  it("shortens addresses and hashes", function () {
    assert.equal(shortHex("0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"), "0x14dC…9955");
    assert.equal(shortHex("0x1234"), "0x1234");
  });
});
