import assert from "node:assert/strict";
import { describe, it } from "mocha";
import type { OrderRow } from "../../server/src/orders/serialize.ts";
import { payState, payView } from "../../server/src/web/pay-view.ts";

const base: OrderRow = {
  id: 1234567890123n,
  merchant_id: 1n,
  chain_id: 31337n,
  pay_to: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
  deposit_address: "0x1111111111111111111111111111111111111111",
  reference: `0x${"ab".repeat(32)}`,
  awaiting_sweep: false,
  merchant_address: "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
  token: "0x0000000000000000000000000000000000000000",
  token_symbol: "ETH",
  token_decimals: 18,
  currency_amount: "10.00",
  usd_cents: 1000n,
  expected_amount: "4000000000000000",
  price: "250000000000",
  price_decimals: 8,
  callback: "http://127.0.0.1/cb",
  item_title: null,
  item_description: null,
  item_image: null,
  return_url: null,
  status: "pending",
  exception: null,
  amount_paid: "0",
  amount_refunded: "0",
  transaction_id: null,
  paid_block: null,
  sent_transaction: null,
  created_at: new Date("2026-01-01T00:00:00Z"),
  expires_at: new Date("2026-01-01T00:15:00Z"),
};

const state = (patch: Partial<OrderRow>, indexed: bigint | null = null, required = 12) => {
  const row = { ...base, ...patch };
  return payState(payView(row, "http://pos.test", indexed), row, required);
};

/** The payment page's words: every status and exception, as a customer reads them. */
describe("payment page state", function () {
  it("waiting: asks for the whole amount", function () {
    const s = state({});
    assert.equal(s.tone, "waiting");
    assert.equal(s.title, "Waiting for payment");
    assert.equal(s.remaining, "0.004");
    assert.equal(s.uri, "ethereum:0x1111111111111111111111111111111111111111@31337?value=4000000000000000");
    assert.equal(s.confirmations_text, "");
  });

  it("paid_partial: says what is missing, and the URI asks for the remainder only", function () {
    const s = state({ exception: "paid_partial", amount_paid: "1000000000000000" });
    assert.equal(s.tone, "partial");
    assert.equal(s.title, "Partly paid: 0.003 ETH still to pay");
    assert.match(s.detail, /received 0\.001 of the 0\.004 ETH due\. Send the remaining 0\.003 ETH/);
    assert.equal(s.remaining_units, "3000000000000000");
    assert.match(s.uri, /\?value=3000000000000000$/);
  });

  it("success: counts confirmations, singular for one", function () {
    const s = state({ status: "success", amount_paid: "4000000000000000", paid_block: 10n }, 10n, 12);
    assert.equal(s.tone, "confirming");
    assert.equal(s.confirmations_text, "1 of 12 confirmations");
    const one = state({ status: "success", amount_paid: "4000000000000000", paid_block: 10n }, 10n, 1);
    assert.equal(one.confirmations_text, "1 of 1 confirmation");
  });

  it("complete with paid_over: Paid, and the extra is explained", function () {
    const s = state(
      { status: "complete", exception: "paid_over", amount_paid: "5000000000000000", paid_block: 1n },
      20n,
      12,
    );
    assert.equal(s.tone, "paid");
    assert.equal(s.title, "Paid");
    assert.equal(s.confirmations_text, "12 of 12 confirmations");
    assert.match(s.detail, /You sent 0\.005 ETH, more than the 0\.004 ETH due/);
    assert.equal(s.remaining, "0");
  });

  it("expired: nothing paid, partly paid, and paid late each say what to do", function () {
    assert.match(state({ status: "expired" }).detail, /Nothing was paid/);
    assert.match(
      state({ status: "expired", exception: "paid_partial", amount_paid: "1000000000000000" }).detail,
      /after 0\.001 of the 0\.004 ETH due arrived\. Do not send more/,
    );
    assert.match(
      state({ status: "expired", exception: "paid_late", amount_paid: "4000000000000000" }).detail,
      /arrived after the order had expired/,
    );
  });

  it("refunded: says how much went back", function () {
    const s = state({
      status: "refunded",
      amount_paid: "4000000000000000",
      amount_refunded: "4000000000000000",
    });
    assert.equal(s.tone, "refunded");
    assert.match(s.detail, /sent 0\.004 ETH back/);
  });
});
