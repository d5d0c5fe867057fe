import assert from "node:assert/strict";
import { describe, it } from "mocha";
import {
  callbackEventsFor,
  computeOrderState,
  type Clock,
  type OrderPayment,
} from "../../server/src/orders/state.ts";

const expiresAt = new Date("2026-01-01T00:15:00Z");
const before = new Date("2026-01-01T00:10:00Z");
const after = new Date("2026-01-01T00:20:00Z");
const terms = { expectedAmount: 1_000n, expiresAt };

function clock(indexedBlock: bigint, canExpire = false, confirmations = 12): Clock {
  return { indexedBlock, confirmations, canExpire: () => canExpire };
}

let log = 0;
function payment(amount: bigint, blockNumber: bigint, blockTimestamp = before): OrderPayment {
  return {
    amount,
    blockNumber,
    logIndex: log++,
    blockTimestamp,
    txHash: `0x${blockNumber.toString(16)}${log}`,
  };
}

describe("order state machine", function () {
  it("stays pending with no payment until expiry may be decided", function () {
    const state = computeOrderState(terms, [], [], clock(100n));
    assert.equal(state.status, "pending");
    assert.equal(state.exception, null);
    assert.equal(state.amountPaid, 0n);
  });

  it("is success at 1 confirmation and complete exactly at CONFIRMATIONS", function () {
    const p = payment(1_000n, 100n);
    assert.equal(computeOrderState(terms, [p], [], clock(100n)).status, "success");
    assert.equal(computeOrderState(terms, [p], [], clock(110n)).status, "success"); // 11 confirmations
    const done = computeOrderState(terms, [p], [], clock(111n)); // 12 confirmations
    assert.equal(done.status, "complete");
    assert.equal(done.transactionId, p.txHash);
    assert.equal(done.paidBlock, 100n);
  });

  it("adds up several payments and records the one that completed it", function () {
    const a = payment(400n, 100n);
    const b = payment(600n, 105n);
    const state = computeOrderState(terms, [b, a], [], clock(105n));
    assert.equal(state.status, "success");
    assert.equal(state.amountPaid, 1_000n);
    assert.equal(state.paidBlock, 105n);
    assert.equal(state.transactionId, b.txHash);
  });

  it("marks a partial payment paid_partial and keeps the order pending until it expires", function () {
    const p = payment(999n, 100n);
    const open = computeOrderState(terms, [p], [], clock(100n));
    assert.equal(open.status, "pending");
    assert.equal(open.exception, "paid_partial");
    const expired = computeOrderState(terms, [p], [], clock(100n, true));
    assert.equal(expired.status, "expired");
    assert.equal(expired.exception, "paid_partial");
  });

  it("marks an overpayment paid_over and still completes", function () {
    const state = computeOrderState(terms, [payment(1_500n, 100n)], [], clock(200n));
    assert.equal(state.status, "complete");
    assert.equal(state.exception, "paid_over");
    assert.equal(state.amountPaid, 1_500n);
  });

  it("does not count a payment mined after expiry, and shows it as paid_late", function () {
    const late = payment(1_000n, 100n, after);
    const state = computeOrderState(terms, [late], [], clock(200n, true));
    assert.equal(state.status, "expired");
    assert.equal(state.exception, "paid_late");
    assert.equal(state.amountPaid, 1_000n);
    assert.equal(state.transactionId, null);
  });

  it("expires an unpaid order only when expiry may be decided", function () {
    assert.equal(computeOrderState(terms, [], [], clock(100n, false)).status, "pending");
    const state = computeOrderState(terms, [], [], clock(100n, true));
    assert.equal(state.status, "expired");
    assert.equal(state.exception, null);
  });

  it("is refunded once refunds cover what was paid, and keeps the refund transaction", function () {
    const p = payment(1_000n, 100n);
    const partial = computeOrderState(
      terms,
      [p],
      [{ amount: 400n, blockNumber: 120n, logIndex: 0, txHash: "0xr1" }],
      clock(130n),
    );
    assert.equal(partial.status, "complete");
    assert.equal(partial.amountRefunded, 400n);
    const full = computeOrderState(
      terms,
      [p],
      [
        { amount: 400n, blockNumber: 120n, logIndex: 0, txHash: "0xr1" },
        { amount: 600n, blockNumber: 125n, logIndex: 0, txHash: "0xr2" },
      ],
      clock(130n),
    );
    assert.equal(full.status, "refunded");
    assert.equal(full.sentTransaction, "0xr2");
  });

  it("reports success before complete when a catch-up jumps straight to complete", function () {
    assert.deepEqual(callbackEventsFor("pending", "complete"), ["success", "complete"]);
    assert.deepEqual(callbackEventsFor("success", "complete"), ["complete"]);
    assert.deepEqual(callbackEventsFor("pending", "expired"), ["expired"]);
    assert.deepEqual(callbackEventsFor("complete", "complete"), []);
    assert.deepEqual(callbackEventsFor("complete", "pending"), ["pending"]);
  });
});
