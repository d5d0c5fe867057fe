/**
 * The JSON-RPC client and the Bitcoin Core adapter's pure parts, against a scripted transport:
 * exact decimals, error classes, credentials, and import coalescing.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { BitcoinCoreAdapter, formatCoinAmount, parseCoinAmount } from "../../server/src/utxo/adapter.ts";
import {
  createRpcClient,
  parseJsonExact,
  RpcAuthError,
  RpcError,
  RpcTransportError,
} from "../../server/src/utxo/rpc.ts";

type Handler = (
  body: { method: string; params: unknown[] },
  auth: string | undefined,
) => { status?: number; text: string; delayMs?: number };

function scripted(handler: Handler): {
  fetch: typeof fetch;
  calls: Array<{ url: string; method: string; params: unknown[] }>;
} {
  const calls: Array<{ url: string; method: string; params: unknown[] }> = [];
  const fake = (async (url: string | URL | Request, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as { method: string; params: unknown[] };
    calls.push({ url: String(url), method: body.method, params: body.params });
    const headers = new Headers(init?.headers);
    const reply = handler(body, headers.get("authorization") ?? undefined);
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    return new Response(reply.text, {
      status: reply.status ?? 200,
      headers: { "content-type": "application/json" },
    });
  }) as typeof fetch;
  return { fetch: fake, calls };
}

describe("EletroPay UTXO RPC client and amounts", function () {
  it("keeps non-integer JSON numbers as their exact text and integers as numbers", function () {
    const parsed = parseJsonExact(
      '{"amount":0.00028443,"big":21000000.00000000,"n":6,"e":1e-8,"neg":-0.1}',
    ) as Record<string, unknown>;
    assert.deepEqual(parsed, {
      amount: "0.00028443",
      big: "21000000.00000000",
      n: 6,
      e: "1e-8",
      neg: "-0.1",
    });
  });

  it("converts node amounts to smallest units and back without floats", function () {
    assert.equal(parseCoinAmount("0.00028443"), 28_443n);
    assert.equal(parseCoinAmount("21000000.00000000"), 2_100_000_000_000_000n);
    assert.equal(parseCoinAmount("-1.5"), -150_000_000n);
    assert.equal(parseCoinAmount("0.1"), 10_000_000n);
    assert.throws(() => parseCoinAmount("0.000000001"), /more than 8 decimals/);
    assert.throws(() => parseCoinAmount("1e-8"), /plain decimal/);
    assert.equal(formatCoinAmount(28_443n), "0.00028443");
    assert.equal(formatCoinAmount(100_000_000n), "1");
    assert.equal(formatCoinAmount(35_000_000n), "0.35");
    assert.equal(formatCoinAmount(1n), "0.00000001");
    assert.equal(formatCoinAmount(2_100_000_000_000_000n), "21000000");
    // Every value from 0 to 100,000 satoshi round-trips exactly.
    for (let sat = 0n; sat <= 100_000n; sat += 7n) assert.equal(parseCoinAmount(formatCoinAmount(sat)), sat);
  });

  it("sends URL credentials as Basic auth, never shows them, and maps failures to error classes", async function () {
    const { fetch, calls } = scripted((body, auth) => {
      if (auth !== `Basic ${Buffer.from("user:p@ss word").toString("base64")}`)
        return { status: 401, text: "" };
      if (body.method === "getblockcount") return { text: '{"result":123,"error":null,"id":1}' };
      if (body.method === "nosuch")
        return {
          status: 404,
          text: '{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}',
        };
      return { status: 503, text: "Work queue depth exceeded" };
    });
    const rpc = createRpcClient("http://user:p%40ss%20word@127.0.0.1:9332/wallet/eletropay", { fetch });
    assert.equal(rpc.safeUrl, "http://127.0.0.1:9332/wallet/eletropay");
    assert.equal(await rpc.call<number>("getblockcount"), 123);
    await assert.rejects(rpc.call("nosuch"), (e: unknown) => e instanceof RpcError && e.code === -32601);
    await assert.rejects(
      rpc.call("busy"),
      (e: unknown) => e instanceof RpcTransportError && /HTTP 503/.test(e.message),
    );
    const wrong = createRpcClient("http://user:nope@127.0.0.1:9332/", { fetch });
    await assert.rejects(
      wrong.call("getblockcount"),
      (e: unknown) => e instanceof RpcAuthError && !e.message.includes("nope"),
    );
    assert.equal(calls[0]!.url, "http://127.0.0.1:9332/wallet/eletropay");
  });

  it("reports connection refusal and timeouts as retryable transport errors", async function () {
    const server: Server = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    try {
      const slow = createRpcClient(`http://127.0.0.1:${port}/`, { timeoutMs: 200 });
      await assert.rejects(
        slow.call("getblockcount"),
        (e: unknown) => e instanceof RpcTransportError && /timed out after 200 ms/.test(e.message),
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const refused = createRpcClient(`http://127.0.0.1:${port}/`, { timeoutMs: 2_000 });
    await assert.rejects(refused.call("getblockcount"), RpcTransportError);
  });

  it("coalesces concurrent watch-only imports into a few importmulti calls", async function () {
    const { fetch, calls } = scripted((body) => {
      if (body.method === "getwalletinfo")
        return { text: '{"result":{"descriptors":false,"private_keys_enabled":false},"error":null}' };
      if (body.method === "importmulti") {
        const requests = body.params[0] as unknown[];
        return {
          delayMs: 30,
          text: JSON.stringify({ result: requests.map(() => ({ success: true })), error: null }),
        };
      }
      throw new Error(`unexpected ${body.method}`);
    });
    const adapter = new BitcoinCoreAdapter({
      currency: "LTC",
      rpc: createRpcClient("http://u:p@127.0.0.1:1/wallet/w", { fetch }),
    });
    await adapter.ensureReady();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => adapter.importAddresses([{ address: `addr${i}`, since: "now" }])),
    );
    const imports = calls.filter((c) => c.method === "importmulti");
    assert.ok(imports.length <= 3, `${imports.length} importmulti calls`);
    const imported = imports.flatMap(
      (c) => c.params[0] as Array<{ scriptPubKey: { address: string }; watchonly: boolean }>,
    );
    assert.equal(imported.length, 100);
    assert.ok(imported.every((r) => r.watchonly));
    assert.deepEqual(imports[0]!.params[1], { rescan: false });
  });

  it("fails an import batch loudly when the node rejects an address, and uses importdescriptors on descriptor wallets", async function () {
    const { fetch, calls } = scripted((body) => {
      if (body.method === "getwalletinfo") return { text: '{"result":{"descriptors":true},"error":null}' };
      if (body.method === "getdescriptorinfo") {
        return {
          text: JSON.stringify({ result: { descriptor: `${body.params[0]}#abcdefgh` }, error: null }),
        };
      }
      if (body.method === "importdescriptors") {
        return {
          text: '{"result":[{"success":true},{"success":false,"error":{"code":-5,"message":"Invalid address"}}],"error":null}',
        };
      }
      throw new Error(`unexpected ${body.method}`);
    });
    const adapter = new BitcoinCoreAdapter({
      currency: "BTC",
      rpc: createRpcClient("http://u:p@127.0.0.1:1/wallet/w", { fetch }),
    });
    await assert.rejects(
      adapter.importAddresses([
        { address: "bc1qok", since: "now" },
        { address: "bad", since: 1_700_000_000 },
      ]),
      /import of 1 address\(es\) failed: bad: Invalid address/,
    );
    const request = calls.find((c) => c.method === "importdescriptors")!.params[0] as Array<{
      desc: string;
      timestamp: unknown;
    }>;
    assert.deepEqual(
      request.map((r) => [r.desc, r.timestamp]),
      [
        ["addr(bc1qok)#abcdefgh", "now"],
        ["addr(bad)#abcdefgh", 1_700_000_000],
      ],
    );
  });
});
