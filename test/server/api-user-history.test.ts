import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";
import { until } from "../support/until.ts";

const CONFIRMATIONS = 2;

/**
 * GET /user/history against real chain events: ETH and USDC payments, a withdrawal and a refund
 * on the in-process chain, followed by the indexer, must show up as income, outgoing, totals
 * and the contract's own balanceOf per token.
 */
describe(`GET /user/history from real chain events (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let key: string;

  before(async function () {
    api = await startApiSystem({
      RUN_INDEXER: "true",
      CONFIRMATIONS: String(CONFIRMATIONS),
      FINALITY_BLOCKS: "16",
      POLL_INTERVAL_MS: "20",
      ETH_USD_PRICE: "2000.00",
      RATE_LIMIT_PER_MINUTE: "100000",
    });
    key = (await createMerchant(api.testDb.db, "ledger@example.com", "seller")).apiKey;
    // The ledger views cover proven payout addresses only: prove the merchant's address first.
    await proveAddress(api.system, key, api.chain.merchant);
  });

  after(async function () {
    await api?.close();
  });

  const inject = (method: "GET" | "POST", url: string, payload?: object) =>
    api.system.app.inject({ method, url, payload, headers: { authorization: key } });

  async function order(amount: string, token?: string) {
    const res = await inject("POST", "/order", {
      amount,
      address: api.chain.merchant.address,
      callback: "http://127.0.0.1:9/cb",
      ...(token ? { token } : {}),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { id: number; expected_amount: string; reference: string };
  }

  it("reports income, outgoing, totals and on-chain balances per token", async function () {
    const { chain } = api;
    const processor = chain.processor;
    const merchant = chain.merchant.address;
    const ethA = await order("20.00"); // 0.01 ETH
    const ethB = await order("10.00"); // 0.005 ETH
    const usdc = await order("15.50", "USDC"); // 15.5 USDC
    await order("3.00"); // never paid

    await (
      await processor.connect(chain.customer).getFunction("pay")(merchant, ethA.reference as `0x${string}`, {
        value: parseDecimal(ethA.expected_amount, 18),
      })
    ).wait();
    await (
      await processor.connect(chain.customer).getFunction("pay")(merchant, ethB.reference as `0x${string}`, {
        value: parseDecimal(ethB.expected_amount, 18),
      })
    ).wait();
    const usdcUnits = parseDecimal(usdc.expected_amount, 6);
    await (
      await chain.stablecoin.connect(chain.customer).getFunction("mint")(chain.customer.address, usdcUnits)
    ).wait();
    await (
      await chain.stablecoin.connect(chain.customer).getFunction("approve")(chain.contractAddress, usdcUnits)
    ).wait();
    await (
      await processor.connect(chain.customer).getFunction("payToken")(
        chain.stablecoinAddress,
        usdcUnits,
        merchant,
        usdc.reference as `0x${string}`,
      )
    ).wait();
    // The merchant withdraws 0.004 ETH and refunds order B in full, with its own key.
    const ZERO = "0x0000000000000000000000000000000000000000";
    await (
      await processor.connect(chain.merchant).getFunction("withdraw")(ZERO, 4_000_000_000_000_000n, merchant)
    ).wait();
    await (
      await processor.connect(chain.merchant).getFunction("refund")(
        ZERO,
        ethB.reference as `0x${string}`,
        chain.customer.address,
        5_000_000_000_000_000n,
      )
    ).wait();
    await chain.mine(CONFIRMATIONS);

    const statusOf = async (id: number) => (await inject("GET", `/order/${id}`)).json().status as string;
    await until(
      async () =>
        (await statusOf(ethA.id)) === "complete" &&
        (await statusOf(usdc.id)) === "complete" &&
        (await statusOf(ethB.id)) === "refunded"
          ? true
          : undefined,
      30_000,
      "orders indexed",
    );

    const res = await inject("GET", "/user/history");
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    const byToken = <T extends { token: string }>(list: T[]) =>
      Object.fromEntries(list.map((x) => [x.token, x]));

    // Income: every payment credited to the merchant, per token.
    assert.deepEqual(byToken(body.income), {
      ETH: { token: "ETH", amount: "0.015", chain_id: 31337 },
      USDC: { token: "USDC", amount: "15.5", chain_id: 31337 },
    });
    // Outgoing: the withdrawal and the refund.
    assert.deepEqual(byToken(body.outgoing), {
      ETH: { token: "ETH", withdrawn: "0.004", refunded: "0.005", chain_id: 31337 },
      USDC: { token: "USDC", withdrawn: "0", refunded: "0", chain_id: 31337 },
    });
    // Totals over the merchant's orders.
    assert.equal(body.totals.orders, 4);
    assert.deepEqual(body.totals.by_status, { complete: 2, refunded: 1, pending: 1 });
    assert.equal(body.totals.usd_complete, "35.50");
    // Balances are read from the contract, and agree with income minus outgoing.
    const balances = byToken(
      body.balances as {
        address: string;
        token: string;
        balance: string;
        chain_id: number;
        token_address: string;
      }[],
    );
    assert.equal(balances.ETH?.address, merchant);
    assert.equal(balances.ETH?.balance, "0.006");
    assert.equal(balances.USDC?.balance, "15.5");
    assert.equal(balances.USDC?.chain_id, 31337);
    assert.equal(balances.USDC?.token_address, chain.stablecoinAddress);
    const onChain = await processor.getFunction("balanceOf")(merchant, ZERO);
    assert.equal(onChain, 6_000_000_000_000_000n);
    assert.equal(await processor.getFunction("balanceOf")(merchant, chain.stablecoinAddress), 15_500_000n);
    assert.deepEqual(body.orphan_payments, []);

    // Another merchant sees none of it.
    const other = (await createMerchant(api.testDb.db, "other-ledger@example.com", "seller")).apiKey;
    const empty = await api.system.app.inject({
      method: "GET",
      url: "/user/history",
      headers: { authorization: other },
    });
    assert.deepEqual(empty.json(), {
      income: [],
      outgoing: [],
      totals: { orders: 0, by_status: {}, usd_complete: "0.00" },
      balances: [],
      orphan_payments: [],
    });
  });
});
