import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "mocha";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startSystem, type System } from "../../server/src/system.ts";
import { startApiSystem } from "../support/api-system.ts";
import { testConfig } from "../support/config.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { waitUntilIndexed } from "../support/indexing.ts";
import { freePort, startNodeChain, startRpcFaultProxy } from "../support/node-chain.ts";
import { maybeSample, parsePrometheusText, sampleOf, type Family } from "../helpers/prometheus-text.ts";
import { until } from "../support/until.ts";

type NodeChain = Awaited<ReturnType<typeof startNodeChain>>;

/**
 * Has Prometheus's own parser read the text (`promtool check metrics`, Debian's prometheus package,
 * which npm test installs: scripts/system-packages.ts). It must parse, and its lint finds nothing in
 * this server's metrics; the process metrics of prom-client's defaults may be named against the
 * lint's advice (`nodejs_active_handles_total` is a gauge).
 */
function checkWithPromtool(text: string): void {
  const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  assert.ifError(result.error); // a missing promtool fails: apt-get install -y prometheus
  const output = `${result.stdout}${result.stderr}`;
  assert.doesNotMatch(output, /pars(e|ing) error/i, output);
  const problems = output.split("\n").filter((line) => line.trim() !== "");
  assert.deepEqual(
    problems.filter((line) => !/^(nodejs|process)_\w+ /.test(line)),
    [],
    "promtool finds no problem in the ethpos_ metrics",
  );
  assert.ok(
    result.status === 0 || (result.status === 3 && problems.length > 0),
    `promtool exit ${result.status}`,
  );
}

const ADMIN_TOKEN = "admin-token-for-the-metrics-tests-0123456789";
/** Hardhat's dev account #9: the gas key (sweeper and collector) here, as under `npm start`. */
const SWEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const SWEEPER = privateKeyToAccount(SWEEPER_KEY).address;
const CONFIRMATIONS = 2;
const STATUSES = ["pending", "success", "complete", "expired", "refunded"] as const;

interface OrderJson {
  id: number;
  address: string;
  expected_amount: string;
  status: string;
  sent_transaction: string | null;
}

/**
 * GET /metrics on a whole system (indexer, sweeper, API) against a `hardhat node` process, its RPC
 * through a proxy that can fail calls: scraped with the admin token and through METRICS_PORT,
 * parsed by a strict parser of the text format (test/helpers/prometheus-text.ts, independent of
 * prom-client), and every value compared with what the chain, the API and the database say.
 */
describe("GET /metrics: Prometheus text that matches the chain, the orders, the outbox and the gas key", function () {
  this.timeout(180_000);
  let chain: NodeChain;
  let proxy: Awaited<ReturnType<typeof startRpcFaultProxy>>;
  let testDb: TestDb;
  let system: System;
  let metricsUrl: string;

  before(async function () {
    chain = await startNodeChain();
    const multicall3 = await chain.deploy("mocks/Multicall3.sol/Multicall3.json");
    proxy = await startRpcFaultProxy(chain.url);
    testDb = await createTestDb();
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    // The system indexes (the leader) and sweeps itself.
    const config = testConfig({
      RUN_INDEXER: undefined,
      HOST: "127.0.0.1",
      PORT: String(await freePort()),
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: "127.0.0.1",
      ADMIN_TOKEN,
      RPC_URL: proxy.url,
      CONTRACT_ADDRESS: chain.contract,
      MULTICALL3_ADDRESS: multicall3,
      START_BLOCK: "0",
      CONFIRMATIONS: String(CONFIRMATIONS),
      FINALITY_BLOCKS: "8",
      POLL_INTERVAL_MS: "20",
      // ETH at $1: a $2.00 order is 2 ETH, so a sweep's gas is well within 5 % of it.
      ETH_USD_PRICE: "1",
      SWEEPER_PRIVATE_KEY: SWEEPER_KEY,
      // Callbacks stay in the outbox: its depth is what is measured.
      RUN_CALLBACK_WORKER: "false",
    });
    system = await startSystem(config, { db: testDb.db });
    await until(
      async () => (system.chains[0]?.role() === "leader" ? true : undefined),
      30_000,
      "the indexer lock",
    );
  });

  after(async function () {
    await system?.close();
    await testDb?.drop();
    await proxy?.close();
    await chain?.stop();
  });

  async function scrape(): Promise<Map<string, Family>> {
    const res = await system.app.inject({
      method: "GET",
      url: "/metrics",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(res.body);
  }

  async function createOrder(): Promise<OrderJson> {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "2.00", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as OrderJson;
  }
  const getOrder = async (id: number) =>
    (await system.app.inject({ method: "GET", url: `/order/${id}` })).json() as OrderJson;

  it("answers 401 without the admin token or with a wrong one, and serves the same text on METRICS_PORT without one", async function () {
    const none = await system.app.inject({ method: "GET", url: "/metrics" });
    assert.equal(none.statusCode, 401);
    assert.equal((none.json() as { error: { code: string } }).error.code, "unauthorized");
    const wrong = await system.app.inject({
      method: "GET",
      url: "/metrics",
      headers: { authorization: "Bearer not-the-admin-token-0123456789abcdef" },
    });
    assert.equal(wrong.statusCode, 401);

    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    checkWithPromtool(text);
    const families = parsePrometheusText(text);
    assert.equal(sampleOf(families, "ethpos_chain_info", { chain: "hardhat", chain_id: "31337" }), 1);
    assert.equal(families.get("ethpos_rpc_requests_total")?.type, "counter");
    assert.equal(families.get("ethpos_orders")?.type, "gauge");
    // The process's own metrics come along.
    assert.ok(sampleOf(families, "process_cpu_user_seconds_total") >= 0);
  });

  it("orders by status, the outbox's depth and age, the gas key's balance and transactions, head and lag", async function () {
    const orders = [await createOrder(), await createOrder(), await createOrder()];
    let families = await scrape();
    for (const status of STATUSES) {
      assert.equal(
        sampleOf(families, "ethpos_orders", { chain: "hardhat", status }),
        status === "pending" ? 3 : 0,
        `orders ${status}`,
      );
    }
    assert.equal(sampleOf(families, "ethpos_callbacks_outbox_depth", { status: "pending" }), 0);
    assert.equal(sampleOf(families, "ethpos_callbacks_outbox_oldest_age_seconds"), 0);
    assert.equal(sampleOf(families, "ethpos_database_up"), 1);

    // One order paid at its deposit address: success queues its callback (no worker delivers it).
    const [paid] = orders as [OrderJson, OrderJson, OrderJson];
    const queuedAfter = Date.now();
    const hash = await chain.wallet.sendTransaction({
      account: chain.customer,
      to: paid.address as `0x${string}`,
      value: parseEther(paid.expected_amount),
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    await until(async () => ((await getOrder(paid.id)).status === "success" ? true : undefined));
    families = await scrape();
    const callbacks = await testDb.db.query<{ n: bigint }>(
      "SELECT count(*)::int8 AS n FROM callbacks WHERE order_id = $1 AND status = 'pending'",
      [paid.id],
    );
    const queued = Number(callbacks.rows[0]?.n);
    assert.ok(queued >= 1, "the success callback is queued");
    assert.equal(sampleOf(families, "ethpos_callbacks_outbox_depth", { status: "pending" }), queued);
    assert.equal(sampleOf(families, "ethpos_callbacks_outbox_due"), queued);
    const age = sampleOf(families, "ethpos_callbacks_outbox_oldest_age_seconds");
    assert.ok(age > 0 && age <= (Date.now() - queuedAfter) / 1000 + 1, `outbox age ${age}`);
    assert.equal(sampleOf(families, "ethpos_orders", { chain: "hardhat", status: "success" }), 1);
    assert.equal(sampleOf(families, "ethpos_orders", { chain: "hardhat", status: "pending" }), 2);

    // Confirmed: the sweeper sweeps the deposit; its transaction is mined and waits for confirmations.
    await chain.mine(CONFIRMATIONS);
    const swept = await until(async () => {
      const o = await getOrder(paid.id);
      return o.sent_transaction ? o : undefined;
    });
    const sweep = await chain.client.getTransaction({ hash: swept.sent_transaction as `0x${string}` });
    assert.equal(sweep.from.toLowerCase(), SWEEPER.toLowerCase());
    await waitUntilIndexed(testDb.db, chain.client);
    // Sent, then mined once the sender follows it (its next round); not confirmed before 2 blocks.
    families = await until(async () => {
      const f = await scrape();
      const mined = sampleOf(f, "ethpos_gas_key_pending_transactions", {
        chain: "hardhat",
        purpose: "sweep",
        state: "mined",
      });
      return mined === 1 ? f : undefined;
    });
    assert.equal(
      sampleOf(families, "ethpos_gas_key_pending_transactions", {
        chain: "hardhat",
        purpose: "sweep",
        state: "sent",
      }),
      0,
    );
    assert.equal(
      sampleOf(families, "ethpos_gas_key_newest_fee_cap_wei", { chain: "hardhat", purpose: "sweep" }),
      Number(sweep.gas * (sweep.maxFeePerGas as bigint)),
    );

    // Settled: nothing pending; the balance is the node's (read anew within the few seconds it is kept).
    await chain.mine(CONFIRMATIONS);
    await waitUntilIndexed(testDb.db, chain.client);
    await until(async () => ((await getOrder(paid.id)).status === "complete" ? true : undefined));
    const balance = await chain.client.getBalance({ address: SWEEPER });
    assert.ok(balance < parseEther("10000"), "the sweep's gas was paid from the key");
    families = await until(
      async () => {
        const f = await scrape();
        const mined = sampleOf(f, "ethpos_gas_key_pending_transactions", {
          purpose: "sweep",
          state: "mined",
        });
        const shown = maybeSample(f, "ethpos_gas_key_balance_wei", { chain: "hardhat", address: SWEEPER });
        return mined === 0 && shown === Number(balance) ? f : undefined;
      },
      15_000,
      "the settled sweep and the key's new balance",
    );
    assert.equal(sampleOf(families, "ethpos_orders", { chain: "hardhat", status: "complete" }), 1);
    assert.equal(sampleOf(families, "ethpos_orders", { chain: "hardhat", status: "pending" }), 2);
    // Every order the API shows is counted under its status.
    const statuses = await Promise.all(orders.map(async (o) => (await getOrder(o.id)).status));
    for (const status of STATUSES) {
      assert.equal(
        sampleOf(families, "ethpos_orders", { chain: "hardhat", status }),
        statuses.filter((s) => s === status).length,
      );
    }

    // Head and indexed block: the node's head, caught up (nothing is mined meanwhile).
    const head = await chain.client.getBlockNumber({ cacheTime: 0 });
    families = await until(async () => {
      const f = await scrape();
      return sampleOf(f, "ethpos_chain_head_block", { chain: "hardhat" }) === Number(head) ? f : undefined;
    });
    assert.equal(sampleOf(families, "ethpos_indexer_indexed_block", { chain: "hardhat" }), Number(head));
    assert.equal(sampleOf(families, "ethpos_indexer_lag_blocks", { chain: "hardhat" }), 0);
    assert.equal(sampleOf(families, "ethpos_chain_node_up", { chain: "hardhat" }), 1);
    assert.equal(sampleOf(families, "ethpos_indexer_leader", { chain: "hardhat" }), 1);
    assert.equal(sampleOf(families, "ethpos_indexer_failed", { chain: "hardhat" }), 0);
    const logRange = sampleOf(families, "ethpos_indexer_log_range_blocks", { chain: "hardhat" });
    assert.equal(logRange, Number(system.chains[0]?.indexerStatus()?.logRange));
    assert.ok(logRange >= 1);
    assert.equal(
      sampleOf(families, "ethpos_rpc_batch_size", { chain: "hardhat" }),
      50,
      "RPC_BATCH_SIZE's default",
    );
    // The indexer's and the sweeper's calls went through the counted transport.
    for (const method of ["eth_getLogs", "eth_blockNumber", "eth_sendRawTransaction", "eth_getBalance"]) {
      assert.ok(sampleOf(families, "ethpos_rpc_requests_total", { chain: "hardhat", method }) >= 1, method);
    }
    assert.ok(
      sampleOf(families, "ethpos_rpc_request_seconds_total", { chain: "hardhat", method: "eth_getLogs" }) > 0,
    );
  });

  it("counts RPC calls and errors per call and kind: batched calls, a JSON-RPC error in a batch, an HTTP 429", async function () {
    const client = system.chains[0]?.client;
    assert.ok(client);
    const calls = (f: Map<string, Family>, method: string) =>
      maybeSample(f, "ethpos_rpc_requests_total", { chain: "hardhat", method }) ?? 0;
    const errors = (f: Map<string, Family>, method: string, kind: string) =>
      maybeSample(f, "ethpos_rpc_errors_total", { chain: "hardhat", method, kind }) ?? 0;
    const before = await scrape();

    // Three calls in one HTTP batch; the node answers one of them with a JSON-RPC error.
    const sent = proxy.state.requests.length;
    const results = await Promise.allSettled([
      client.request({ method: "web3_clientVersion" }),
      client.request({ method: "web3_clientVersion" }),
      client.request({ method: "eth_noSuchMethod" as never }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "fulfilled", "rejected"],
    );
    assert.ok(
      proxy.state.requests
        .slice(sent)
        .some(
          (r) => r.filter((m) => m === "web3_clientVersion").length === 2 && r.includes("eth_noSuchMethod"),
        ),
      "the three calls went in one batch",
    );
    // A rate-limiting provider: HTTP 429 for one method. The transport tries it 4 more times
    // (server/src/chain/transport.ts), and every attempt is counted.
    proxy.state.fail = (method) => (method === "web3_sha3" ? 429 : undefined);
    await assert.rejects(client.request({ method: "web3_sha3", params: ["0x68656c6c6f"] }));
    proxy.state.fail = undefined;

    const after = await scrape();
    assert.equal(calls(after, "web3_clientVersion") - calls(before, "web3_clientVersion"), 2);
    assert.equal(errors(after, "web3_clientVersion", "rpc"), 0);
    assert.equal(calls(after, "eth_noSuchMethod") - calls(before, "eth_noSuchMethod"), 1);
    assert.equal(errors(after, "eth_noSuchMethod", "rpc") - errors(before, "eth_noSuchMethod", "rpc"), 1);
    assert.equal(calls(after, "web3_sha3") - calls(before, "web3_sha3"), 5);
    assert.equal(errors(after, "web3_sha3", "rate_limited") - errors(before, "web3_sha3", "rate_limited"), 5);
  });

  it("is off on the API without ADMIN_TOKEN (404 naming the variable)", async function () {
    const api = await startApiSystem();
    try {
      const res = await api.system.app.inject({ method: "GET", url: "/metrics" });
      assert.equal(res.statusCode, 404);
      assert.match((res.json() as { error: { message: string } }).error.message, /ADMIN_TOKEN/);
    } finally {
      await api.close();
    }
  });
});

describe("the test parser of the Prometheus text format is strict", function () {
  it("parses families, labels with escapes, special values and timestamps", function () {
    const families = parsePrometheusText(
      [
        "# HELP a_total Calls \\\\ with\\nlines",
        "# TYPE a_total counter",
        'a_total{method="eth_call",note="say \\"hi\\"\\n\\\\"} 3 1700000000000',
        "# TYPE b gauge",
        "b NaN",
        'b{x="1",} +Inf',
        "# TYPE h histogram",
        'h_bucket{le="1"} 1',
        'h_bucket{le="+Inf"} 2',
        "h_sum 1.5e0",
        "h_count 2",
        "",
      ].join("\n"),
    );
    assert.equal(families.get("a_total")?.help, "Calls \\ with\nlines");
    assert.deepEqual(families.get("a_total")?.samples[0], {
      name: "a_total",
      labels: { method: "eth_call", note: 'say "hi"\n\\' },
      value: 3,
      timestamp: 1700000000000,
    });
    assert.ok(Number.isNaN(families.get("b")?.samples[0]?.value));
    assert.equal(sampleOf(families, "b", { x: "1" }), Number.POSITIVE_INFINITY);
    assert.equal(families.get("h")?.samples.length, 4);
  });

  it("refuses what the format does not allow", function () {
    const bad: [string, RegExp][] = [
      ["1abc 1\n", /metric name/],
      ['a{1x="v"} 1\n', /label name/],
      ['a{__x="v"} 1\n', /reserved/],
      ['a{x="v",x="w"} 1\n', /twice/],
      ['a{x="v\\t"} 1\n', /unknown escape/],
      ['a{x="v} 1\n', /closing quote/],
      ["a one\n", /not a number/],
      ["a 1 2.5\n", /timestamp/],
      ["a 1", /line feed/],
      ["# TYPE a gauge\n# TYPE a gauge\na 1\n", /second TYPE/],
      ["# TYPE a nonsense\na 1\n", /unknown type/],
      ["a 1\n# TYPE a gauge\n", /after its samples/],
      ['a 1\nb 1\na{x="y"} 2\n', /one group/],
      ["a 1\na 2\n", /given twice/],
      ["# TYPE c_total counter\nc_total -1\n", /counter/],
      ["# TYPE h histogram\nh 1\n", /without a suffix/],
      ['a{x="v"}1\n', /expected/],
    ];
    for (const [text, why] of bad) assert.throws(() => parsePrometheusText(text), why, JSON.stringify(text));
  });
});
