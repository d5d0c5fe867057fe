import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "mocha";
import {
  createPublicClient,
  ExecutionRevertedError,
  HttpRequestError,
  InvalidRequestRpcError,
  LimitExceededRpcError,
  RpcRequestError,
} from "viem";
import { createRpcStats, rpcErrorKind } from "../../server/src/chain/rpc-stats.ts";
import { providerTransport } from "../../server/src/chain/transport.ts";
import {
  backoffMs,
  isBatchRefusal,
  isRangeRefusal,
  isTransientRefusal,
  matchWording,
  PROVIDER_WORDINGS,
  refusalKind,
  retryAfterMs,
} from "../../server/src/indexer/provider-errors.ts";
import { isRangeTooLarge, isRetryable } from "../../server/src/indexer/rpc.ts";
import { recentValue } from "../../server/src/lib/recent.ts";

const URL_ = "https://rpc.example/v2/key";

/** The error viem raises for a JSON-RPC error answer (with the HTTP status of a non-2xx answer). */
function rpcError(example: { code?: number; status?: number; message: string }, headers?: Headers) {
  return new RpcRequestError({
    body: { method: "eth_getLogs", params: [] },
    error: { code: example.code ?? -32000, message: example.message },
    ...(example.status === undefined ? {} : { status: example.status }),
    ...(headers ? { headers } : {}),
    url: URL_,
  });
}

describe("provider refusals: every wording in the table, and the transport's answers to them", function () {
  describe("the table (server/src/indexer/provider-errors.ts)", function () {
    for (const wording of PROVIDER_WORDINGS) {
      it(`${wording.kind}: ${wording.source}`, function () {
        const error = rpcError(wording.example);
        assert.equal(matchWording(error)?.kind, wording.kind, wording.example.message);
        assert.equal(refusalKind(error), wording.kind);
        // As the client sees it, wrapped by viem's typed errors (code -32600 → InvalidRequestRpcError).
        const wrapped = new InvalidRequestRpcError(error);
        assert.equal(refusalKind(wrapped), wording.kind, "found through the cause chain");
        switch (wording.kind) {
          case "range":
          case "results":
            assert.ok(isRangeRefusal(error));
            assert.ok(isRangeTooLarge(wrapped), "the indexer asks for fewer blocks");
            assert.ok(!isTransientRefusal(error), "not retried as such");
            assert.equal(rpcErrorKind(error), "range_too_large");
            break;
          case "batch":
            assert.ok(isBatchRefusal(error));
            assert.ok(!isRangeTooLarge(error));
            assert.ok(
              isRetryable(wrapped),
              "retried by the indexer once the transport sends smaller batches",
            );
            assert.equal(rpcErrorKind(error), "batch_too_large");
            break;
          case "rate_limited":
            assert.ok(isTransientRefusal(error));
            assert.ok(isRetryable(wrapped));
            assert.ok(!isRangeTooLarge(error), "a rate limit is not a reason to split a range");
            assert.equal(rpcErrorKind(error), "rate_limited");
            break;
        }
      });
    }

    it("each source's example matches its own entry first (no entry hides another)", function () {
      for (const wording of PROVIDER_WORDINGS) {
        assert.equal(matchWording(rpcError(wording.example)), wording, wording.source);
      }
    });

    it("the issue's QuickNode answer: -32614, HTTP 413, `eth_getLogs is limited to a 10 range`", function () {
      const error = rpcError({ code: -32614, status: 413, message: "eth_getLogs is limited to a 10 range" });
      assert.ok(isRangeTooLarge(error));
      assert.ok(!isTransientRefusal(error), "a 413 is not retried as it is");
    });

    it("geth's refusal of a whole batch, as viem hands it to each call", function () {
      const error = new InvalidRequestRpcError(rpcError({ code: -32600, message: "batch too large" }));
      assert.ok(isBatchRefusal(error));
      assert.ok(isRetryable(error));
    });

    it("what is not a refusal stays unmatched", function () {
      for (const message of [
        "execution reverted",
        "invalid block tag",
        "header for hash not found",
        "nonce too low",
        "method not found",
      ]) {
        const error = rpcError({ code: -32602, message });
        assert.equal(refusalKind(error), undefined, message);
        assert.ok(!isRangeTooLarge(error), message);
      }
      assert.equal(refusalKind(new ExecutionRevertedError()), undefined);
    });

    it("HTTP 429 and 5xx of a gateway are transient whatever the body; 4xx are not", function () {
      for (const status of [429, 500, 502, 503, 504]) {
        const error = new HttpRequestError({ url: URL_, status, details: "upstream" });
        assert.ok(isTransientRefusal(error), String(status));
        assert.ok(isRetryable(error), String(status));
      }
      for (const status of [400, 401, 403, 404]) {
        assert.ok(
          !isTransientRefusal(new HttpRequestError({ url: URL_, status, details: "no" })),
          String(status),
        );
      }
      assert.equal(
        rpcErrorKind(rpcError({ code: -32000, status: 429, message: "slow down" })),
        "rate_limited",
      );
    });

    it("a -32005 `limit exceeded` without a rate-limit wording still splits a range (BNB Chain)", function () {
      const error = new LimitExceededRpcError(rpcError({ code: -32005, message: "limit exceeded" }));
      assert.ok(isRangeTooLarge(error));
    });
  });

  describe("Retry-After and backoff", function () {
    it("reads Retry-After in seconds or as an HTTP date, capped", function () {
      const seconds = rpcError({ code: 429, status: 429, message: "x" }, new Headers({ "Retry-After": "2" }));
      assert.equal(retryAfterMs(seconds), 2_000);
      assert.equal(retryAfterMs(seconds, 1_500), 1_500);
      const now = Date.parse("2026-01-01T00:00:00Z");
      const date = new HttpRequestError({
        url: URL_,
        status: 429,
        headers: new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }),
      });
      assert.equal(retryAfterMs(date, 60_000, now), 3_000);
      assert.equal(retryAfterMs(rpcError({ code: 429, status: 429, message: "x" })), undefined);
    });

    it("backs off exponentially with jitter, within [ceiling/2, ceiling]", function () {
      assert.equal(
        backoffMs(0, 200, 10_000, () => 0),
        100,
      );
      assert.equal(
        backoffMs(0, 200, 10_000, () => 1),
        200,
      );
      assert.equal(
        backoffMs(3, 200, 10_000, () => 1),
        1_600,
      );
      assert.equal(
        backoffMs(20, 200, 10_000, () => 1),
        10_000,
      );
    });
  });

  describe("the provider transport against a local endpoint speaking the providers' protocol", function () {
    async function endpoint(
      handle: (
        body: unknown,
        n: number,
      ) => { status: number; body: unknown; headers?: Record<string, string> },
    ) {
      let n = 0;
      const batches: number[] = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
          batches.push(Array.isArray(body) ? body.length : 1);
          const out = handle(body, ++n);
          res.writeHead(out.status, { "content-type": "application/json", ...(out.headers ?? {}) });
          res.end(JSON.stringify(out.body));
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return { url, batches, close: () => new Promise<void>((r) => server.close(() => r())) };
    }
    const ok = (call: { id: unknown }) => ({ jsonrpc: "2.0", id: call.id, result: "0x1" });

    it("halves its batches on geth's `batch too large` until they pass, and every call is answered", async function () {
      const cap = 6;
      const server = await endpoint((body) => {
        const calls = [body].flat() as { id: unknown }[];
        if (Array.isArray(body) && calls.length > cap)
          return {
            status: 200,
            body: [{ jsonrpc: "2.0", id: null, error: { code: -32600, message: "batch too large" } }],
          };
        return { status: 200, body: Array.isArray(body) ? calls.map(ok) : ok(calls[0] as { id: unknown }) };
      });
      try {
        const stats = createRpcStats();
        const { transport, state } = providerTransport(server.url, { batchSize: 32, stats });
        const client = createPublicClient({ transport });
        const results = await Promise.all(
          Array.from({ length: 32 }, () => client.request({ method: "eth_blockNumber" } as never)),
        );
        assert.deepEqual(results, Array(32).fill("0x1"));
        assert.equal(state.batchSize(), 4, "32 → 16 → 8 → 4");
        assert.ok(server.batches.every((size) => size <= 32));
        const counted = stats.snapshot().find((s) => s.method === "eth_blockNumber");
        assert.ok((counted?.errors.batch_too_large ?? 0) > 0, "the refusals are counted by kind");
      } finally {
        await server.close();
      }
    });

    it("retries a 429 after its Retry-After, and a 503 with backoff; gives up after its retries", async function () {
      let refuseNext = 2;
      const server = await endpoint((body) => {
        if (refuseNext-- > 0)
          return {
            status: 429,
            headers: { "retry-after": "0" },
            body: { jsonrpc: "2.0", id: null, error: { code: 429, message: "Too Many Requests" } },
          };
        return { status: 200, body: ok(body as { id: unknown }) };
      });
      try {
        const { transport } = providerTransport(server.url, { batchSize: 1, baseDelayMs: 1 });
        const client = createPublicClient({ transport });
        assert.equal(await client.request({ method: "eth_chainId" } as never), "0x1");
        refuseNext = 100;
        await assert.rejects(client.request({ method: "eth_chainId" } as never), (error: unknown) =>
          isTransientRefusal(error),
        );
      } finally {
        await server.close();
      }
    });

    it("does not retry a range refusal (the indexer asks for fewer blocks instead)", async function () {
      let requests = 0;
      const server = await endpoint((body) => {
        requests++;
        return {
          status: 413,
          body: {
            jsonrpc: "2.0",
            id: (body as { id: unknown }).id,
            error: { code: -32614, message: "eth_getLogs is limited to a 10 range" },
          },
        };
      });
      try {
        const { transport } = providerTransport(server.url, { batchSize: 1, baseDelayMs: 1 });
        const client = createPublicClient({ transport });
        await assert.rejects(
          client.request({ method: "eth_getLogs", params: [{}] } as never),
          (error: unknown) => isRangeTooLarge(error),
        );
        assert.equal(requests, 1);
      } finally {
        await server.close();
      }
    });
  });

  describe("recent values (the head of /health, the feed round of POST /order)", function () {
    it("reuses an answer while fresh, serves the last one through refusals within the grace, then fails", async function () {
      let clock = 0;
      let reads = 0;
      let refuse = false;
      const value = recentValue(
        async () => {
          reads++;
          if (refuse) throw new Error("HTTP 429");
          return reads;
        },
        { freshMs: 1_000, graceMs: 30_000, now: () => clock },
      );
      assert.equal(await value.get(), 1);
      clock = 500;
      assert.equal(await value.get(), 1, "fresh: no read");
      assert.equal(reads, 1);
      clock = 2_000;
      refuse = true;
      assert.equal(await value.get(), 1, "refused: the last answer");
      assert.equal(reads, 2);
      clock = 31_000;
      await assert.rejects(value.get(), /429/, "past the grace: the refusal");
      refuse = false;
      assert.equal(await value.get(), 4);
    });

    it("shares one read between concurrent callers", async function () {
      let reads = 0;
      const value = recentValue(async () => ++reads, { freshMs: 1_000, graceMs: 1_000 });
      assert.deepEqual(await Promise.all([value.get(), value.get(), value.get()]), [1, 1, 1]);
      assert.equal(reads, 1);
    });

    it("does not wait past its patience for a slow read when it has a recent answer", async function () {
      let clock = 0;
      let release: (() => void) | undefined;
      let reads = 0;
      const value = recentValue(
        () =>
          ++reads === 1
            ? Promise.resolve("first")
            : new Promise<string>((resolve) => {
                release = () => resolve("second");
              }),
        { freshMs: 1_000, graceMs: 30_000, patienceMs: 5, now: () => clock },
      );
      assert.equal(await value.get(), "first");
      clock = 2_000;
      assert.equal(await value.get(), "first", "the slow read is not waited for");
      release?.();
      await new Promise((r) => setImmediate(r));
      assert.equal(value.last()?.value, "second", "its answer is kept when it comes");
    });
  });
});
