// Address benchmark for the EletroPay API, run with `npm run bench:addresses` (node bench/addresses.ts).
//
// 1. Raw derivation on one core: m/0/i addresses from an account-level key, for each script type
//    (P2PKH xpub, P2WPKH zpub, P2SH-P2WPKH ypub), after a warm-up. Goal: >= 1,000 addresses/s.
// 2. The API's issued-addresses rate: `GET /v1/clients/:token/LTC` through app.inject, with
//    index allocation, derivation and the address row in the database, BENCH_CONCURRENCY requests
//    in flight. The chain adapter is a no-op here (the watch-only import is a node round trip,
//    coalesced into batches; eletropay-litecoind.test.ts measures it on a real node).
//    Database: PGlite in memory, or PostgreSQL when DATABASE_URL is set.
// Writes bench/results/addresses.json.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HDKey } from "@scure/bip32";
import { parseEletroPayConfig } from "../server/src/config/eletropay.ts";
import { createEletroPay } from "../server/src/eletropay/index.ts";
import type { PollResult, UtxoChainAdapter } from "../server/src/utxo/adapter.ts";
import { createAddressDeriver } from "../server/src/utxo/derive.ts";
import { addressParams } from "../server/src/utxo/networks.ts";
import { parseExtendedPublicKey } from "../server/src/utxo/xpub.ts";
import { createTestDb } from "../test/support/db.ts";

const RAW_COUNT = Number(process.env.BENCH_RAW_COUNT ?? 20_000);
const RAW_RUNS = Number(process.env.BENCH_RAW_RUNS ?? 5);
const API_COUNT = Number(process.env.BENCH_API_COUNT ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const GOAL = 1_000;

const account = HDKey.fromMasterSeed(Buffer.from("bench seed for eletropay addresses")).derive("m/44'/0'/0'");
const withVersion = (version: number) =>
  new HDKey({
    versions: { public: version, private: 0 },
    publicKey: account.publicKey!,
    chainCode: account.chainCode!,
    depth: account.depth,
    index: account.index,
    parentFingerprint: account.parentFingerprint,
  }).publicExtendedKey;

interface RawRow {
  scriptType: string;
  currency: string;
  addresses: number;
  seconds: number;
  /** Best run. */
  perSecond: number;
  medianPerSecond: number;
}

/**
 * Best and median of RAW_RUNS timed runs: the process is single-threaded, so this is one core;
 * the best run is the least disturbed by other processes on a shared machine.
 */
function rawRate(key: string, currency: "BTC" | "LTC" | "DASH"): RawRow {
  const deriver = createAddressDeriver(
    parseExtendedPublicKey(key, currency, "mainnet"),
    addressParams(currency, "mainnet"),
  );
  for (let i = 0; i < 500; i++) deriver.address(1_000_000 + i); // warm-up (JIT, curve tables)
  const perRun = Math.ceil(RAW_COUNT / RAW_RUNS);
  const rates: number[] = [];
  let total = 0;
  for (let run = 0; run < RAW_RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRun; i++) deriver.address(run * perRun + i);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    total += seconds;
    rates.push(perRun / seconds);
  }
  rates.sort((a, b) => a - b);
  return {
    scriptType: deriver.scriptType,
    currency,
    addresses: perRun * RAW_RUNS,
    seconds: total,
    perSecond: rates.at(-1)!,
    medianPerSecond: rates[Math.floor(rates.length / 2)]!,
  };
}

const raw = [
  rawRate(account.publicExtendedKey, "DASH"),
  rawRate(account.publicExtendedKey, "LTC"),
  rawRate(withVersion(0x04b24746), "BTC"),
  rawRate(withVersion(0x049d7cb2), "BTC"),
];
for (const r of raw) {
  console.log(
    `raw ${r.currency.padEnd(4)} ${r.scriptType.padEnd(11)} ${r.addresses} addresses in ${r.seconds.toFixed(2)} s: ` +
      `best run ${Math.round(r.perSecond)}/s, median ${Math.round(r.medianPerSecond)}/s (one core)`,
  );
}

const noopAdapter = (currency: "LTC"): UtxoChainAdapter => ({
  currency,
  async ensureReady() {},
  async importAddresses() {},
  async poll(): Promise<PollResult> {
    return { cursor: "", tipHeight: 0, observations: [], cursorReset: false };
  },
});

const testDb = await createTestDb();
const BENCH_SECRET = "bench-shared-secret-0123456789abcdef";
const config = parseEletroPayConfig({
  XPUB_LTC: account.publicExtendedKey,
  LTC_RPC_URL: "http://127.0.0.1:1/",
  ELETROPAY_TOKEN_KEY: "bench-token-key-0123456789abcdef0123456789",
  ELETROPAY_CALLBACK_URL: "http://127.0.0.1:9/",
  ELETROPAY_SHARED_SECRET: BENCH_SECRET,
  // One client asks for every address as fast as it can: the issuing path is measured, not the
  // rate limits or the refusal past the gap limit.
  ELETROPAY_RATE_LIMIT_PER_IP: "100000000",
  ELETROPAY_RATE_LIMIT_PER_TOKEN: "100000000",
  GAP_LIMIT: "100000",
});
const ep = await createEletroPay({ db: testDb.db, config, adapters: { LTC: noopAdapter("LTC") } });
const { token } = await ep.service.registerClient("bench@example.com", { revealExisting: true });
let next = 0;
let failures = 0;
const started = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < API_COUNT) {
      next++;
      const res = await ep.app.inject({
        method: "GET",
        url: `/v1/clients/${token}/LTC`,
        headers: { "x-eletropay-secret": BENCH_SECRET },
      });
      if (res.statusCode !== 200) failures++;
    }
  }),
);
const apiSeconds = Number(process.hrtime.bigint() - started) / 1e9;
const { rows } = await testDb.db.query<{ n: bigint }>(
  "SELECT count(DISTINCT address) AS n FROM eletropay_addresses",
);
const distinct = Number(rows[0]!.n);
await ep.app.close();
await testDb.drop();
const api = {
  database: process.env.DATABASE_URL ? "postgresql" : "pglite",
  requests: API_COUNT,
  concurrency: CONCURRENCY,
  seconds: apiSeconds,
  perSecond: API_COUNT / apiSeconds,
  distinctAddresses: distinct,
  failures,
};
console.log(
  `api ${api.database}: ${API_COUNT} addresses issued in ${apiSeconds.toFixed(2)} s = ${Math.round(api.perSecond)}/s ` +
    `(${CONCURRENCY} in flight, ${distinct} distinct, ${failures} failures)`,
);

console.log(
  `load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} on ${os.cpus().length} cores`,
);
const slowest = Math.min(...raw.map((r) => r.perSecond));
const ok = slowest >= GOAL && failures === 0 && distinct === API_COUNT;
console.log(
  `goal: >= ${GOAL} addresses/s raw on one core: ${slowest >= GOAL ? "met" : "NOT met"} (slowest ${Math.round(slowest)}/s)`,
);

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), "results", "addresses.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
      goalPerSecond: GOAL,
      raw: raw.map((r) => ({
        ...r,
        seconds: Number(r.seconds.toFixed(3)),
        perSecond: Math.round(r.perSecond),
        medianPerSecond: Math.round(r.medianPerSecond),
      })),
      api: { ...api, seconds: Number(api.seconds.toFixed(3)), perSecond: Math.round(api.perSecond) },
      goalMet: ok,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
if (!ok) process.exitCode = 1;
