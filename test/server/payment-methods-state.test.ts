import assert from "node:assert/strict";
import { describe, it } from "mocha";
import {
  centsValue,
  computeMethodsState,
  unitsOf,
  usdValue,
  type SeenPayment,
} from "../../server/src/payment-methods/state.ts";

const ETH_AT_2000 = { price: 2000_00000000n, priceDecimals: 8 };
const ETH_AT_4000 = { price: 4000_00000000n, priceDecimals: 8 };
const USDC_PEG = { price: 1_00000000n, priceDecimals: 8 };
const LTC_AT_73_21 = { price: 73_21000000n, priceDecimals: 8 };

const expiresAt = new Date("2026-12-07T12:15:00Z");
const t = (minute: number) => new Date(Date.UTC(2026, 11, 7, 12, minute));

/** A payment of `amount` units of a coin of `decimals` at `rate`, mined at minute `minute`. */
function payment(
  method: string,
  amount: bigint,
  decimals: number,
  rate: { price: bigint; priceDecimals: number },
  minute: number,
  extra: Partial<SeenPayment> = {},
): SeenPayment {
  return {
    method,
    amount,
    value: usdValue(amount, decimals, rate),
    at: t(minute),
    chainKey: method.split("@")[1] ?? "utxo",
    blockNumber: BigInt(minute),
    logIndex: 0,
    txHash: `0x${method}-${minute}`,
    confirmed: false,
    swept: false,
    sweepTx: null,
    ...extra,
  };
}
const final = { confirmed: true, swept: true };
const $10 = { usdCents: 1000n, expiresAt };

describe("payment methods: the sum of every method's payments at their locked rates", function () {
  it("values amounts exactly in 10^-18 USD and back, rounding down", function () {
    assert.equal(usdValue(10n ** 18n, 18, ETH_AT_2000), centsValue(200_000n));
    assert.equal(usdValue(4_000000n, 6, USDC_PEG), centsValue(400n));
    // 1 wei at $2000: 2·10^-15 USD, exact at 10^-18.
    assert.equal(usdValue(1n, 18, ETH_AT_2000), 2000n);
    // 1 litoshi at $73.21: 7.321·10^-7 USD.
    assert.equal(usdValue(1n, 8, LTC_AT_73_21), 732_100_000_000n);
    assert.equal(unitsOf(centsValue(400n), 18, ETH_AT_2000), 2n * 10n ** 15n);
    assert.equal(unitsOf(centsValue(1n), 18, { price: 3_00000000n, priceDecimals: 8 }), 3333333333333333n);
  });

  it("the quoted amount of any method covers the order exactly (quotes round up)", function () {
    // $10 at $73.21/LTC: 0.13659336… LTC, quoted rounded up to 8 decimals.
    const ltc = payment("LTC", 13_659_337n, 8, LTC_AT_73_21, 1, final);
    assert.equal(computeMethodsState($10, [ltc], false).status, "complete");
    const short = payment("LTC", 13_659_336n, 8, LTC_AT_73_21, 1, final);
    const s = computeMethodsState($10, [short], false);
    assert.equal(s.status, "pending");
    assert.equal(s.exception, "paid_partial");
  });

  it("two methods on two chains add up: success at the one that covers, in the order they were mined", function () {
    const usdc = payment("USDC@31337", 4_000000n, 6, USDC_PEG, 2);
    const eth = payment("ETH@31338", 15n * 10n ** 14n, 18, ETH_AT_4000, 5, { txHash: "0xcover" });
    let s = computeMethodsState($10, [usdc], false);
    assert.equal(s.status, "pending");
    assert.equal(s.exception, "paid_partial");
    assert.equal(s.valuePaid, centsValue(400n));
    s = computeMethodsState($10, [eth, usdc], false);
    assert.equal(s.status, "success");
    assert.equal(s.exception, null);
    assert.equal(s.completing?.txHash, "0xcover");
    assert.deepEqual(
      s.counted.map((p) => p.method),
      ["USDC@31337", "ETH@31338"],
    );
    assert.equal(s.valuePaid, centsValue(1000n));
  });

  it("complete only once every counted payment is confirmed and swept; awaiting the sweep in between", function () {
    const usdc = payment("USDC@31337", 4_000000n, 6, USDC_PEG, 2, { confirmed: true });
    const eth = payment("ETH@31338", 15n * 10n ** 14n, 18, ETH_AT_4000, 5, final);
    let s = computeMethodsState($10, [usdc, { ...eth, confirmed: false, swept: false }], false);
    assert.equal(s.status, "success");
    assert.equal(s.awaitingSweep, false, "not every payment is confirmed yet");
    s = computeMethodsState($10, [usdc, { ...eth, sweepTx: "0xsweepB" }], false);
    assert.equal(s.status, "success");
    assert.equal(s.awaitingSweep, true);
    assert.equal(s.sentTransaction, null);
    s = computeMethodsState(
      $10,
      [
        { ...usdc, swept: true, sweepTx: "0xsweepA" },
        { ...eth, sweepTx: "0xsweepB" },
      ],
      false,
    );
    assert.equal(s.status, "complete");
    assert.equal(s.awaitingSweep, false);
    assert.equal(s.sentTransaction, "0xsweepB");
    // A UTXO payment goes to the merchant's own wallet: final at its confirmations, no sweep.
    const ltc = payment("LTC", 13_659_337n, 8, LTC_AT_73_21, 3, final);
    assert.equal(computeMethodsState($10, [ltc], false).sentTransaction, null);
  });

  it("an overpayment across methods is paid_over; what came after the covering payment need not be final", function () {
    const usdc = payment("USDC@31337", 8_000000n, 6, USDC_PEG, 2, final);
    const eth = payment("ETH@31338", 15n * 10n ** 14n, 18, ETH_AT_4000, 5, final);
    const more = payment("USDC@31338", 1_000000n, 6, USDC_PEG, 7);
    const s = computeMethodsState($10, [more, eth, usdc], false);
    assert.equal(s.status, "complete");
    assert.equal(s.exception, "paid_over");
    assert.equal(s.valuePaid, centsValue(1500n));
  });

  it("payments after the expiry never count: expired with paid_late, or paid_partial without them", function () {
    const early = payment("USDC@31337", 4_000000n, 6, USDC_PEG, 10, final);
    const late = payment("ETH@31338", 15n * 10n ** 14n, 18, ETH_AT_4000, 20, final);
    let s = computeMethodsState($10, [early, late], true);
    assert.equal(s.status, "expired");
    assert.equal(s.exception, "paid_late");
    s = computeMethodsState($10, [early, late], false);
    assert.equal(s.status, "pending");
    assert.equal(s.exception, "paid_late");
    s = computeMethodsState($10, [early], true);
    assert.equal(s.status, "expired");
    assert.equal(s.exception, "paid_partial");
    s = computeMethodsState($10, [], true);
    assert.equal(s.status, "expired");
    assert.equal(s.exception, null);
    assert.equal(computeMethodsState($10, [], false).status, "pending");
  });

  it("payments mined at the same second are ordered by chain, block and log", function () {
    const a = payment("USDC@31337", 6_000000n, 6, USDC_PEG, 3, { chainKey: "31337", txHash: "0xa" });
    const b = payment("ETH@31338", 15n * 10n ** 14n, 18, ETH_AT_4000, 3, {
      chainKey: "31338",
      txHash: "0xb",
    });
    const c = payment("USDC@31337", 1_000000n, 6, USDC_PEG, 3, {
      chainKey: "31337",
      logIndex: 5,
      txHash: "0xc",
    });
    const s = computeMethodsState($10, [b, c, a], false);
    assert.deepEqual(
      s.counted.map((p) => p.txHash),
      ["0xa", "0xc", "0xb"],
    );
    assert.equal(s.completing?.txHash, "0xb");
  });
});
