import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { MethodNotSupportedRpcError, RpcRequestError, HttpRequestError } from "viem";
import {
  createRotation,
  creditsExplain,
  detectWatchMode,
  readBlockContents,
} from "../../server/src/deposits/watch.ts";
import type { BlockRef } from "../../server/src/indexer/types.ts";

const block: BlockRef = {
  number: 7n,
  hash: `0x${"ab".repeat(32)}`,
  parentHash: `0x${"cd".repeat(32)}`,
  timestamp: new Date(0),
};
const refused = (method: string) =>
  new MethodNotSupportedRpcError(
    new RpcRequestError({
      body: { method },
      error: { code: -32004, message: `Method ${method} is not supported` },
      url: "http://node",
    }),
    { method },
  );
const A = `0x${"a1".repeat(20)}`;
const B = `0x${"b2".repeat(20)}`;
const C = `0x${"c3".repeat(20)}`;
const D = `0x${"d4".repeat(20)}`;

/** The watch's pure parts (deposits/watch.ts): mode detection, what a block pays, the rotation's slices. */
describe("deposit watch: modes, block contents, rotation", function () {
  it("detects block traces, trace_block, or falls back to the rotation; a transport failure is thrown", async function () {
    const node =
      (answers: Record<string, unknown>) =>
      async <T>(method: string) => {
        const a = answers[method];
        if (a instanceof Error) throw a;
        return a as T;
      };
    assert.equal(await detectWatchMode(node({ debug_traceBlockByHash: [] }), block), "block_traces");
    assert.equal(
      await detectWatchMode(
        node({ debug_traceBlockByHash: refused("debug_traceBlockByHash"), trace_block: [] }),
        block,
      ),
      "trace_block",
    );
    assert.equal(
      await detectWatchMode(
        node({
          debug_traceBlockByHash: refused("debug_traceBlockByHash"),
          trace_block: refused("trace_block"),
        }),
        block,
      ),
      "rotation",
    );
    const down = new HttpRequestError({ url: "http://node", details: "fetch failed" });
    await assert.rejects(detectWatchMode(node({ debug_traceBlockByHash: down }), block), HttpRequestError);
  });

  const raw = {
    number: "0x7",
    hash: block.hash,
    parentHash: block.parentHash,
    timestamp: "0x0",
    transactions: [
      { hash: "0x01", to: A.toUpperCase().replace("0X", "0x"), value: "0x5" },
      { hash: "0x02", to: B, value: "0x0" }, // a call without value pays nothing
      { hash: "0x03", to: null, value: "0x9" }, // a creation
    ],
    withdrawals: [{ address: D, amount: "0x1" }],
  };

  it("block traces: direct recipients, withdrawals and internal transfers, not reverted frames", async function () {
    const frames = [
      {
        txHash: "0x01",
        result: {
          type: "CALL",
          to: A,
          value: "0x5",
          calls: [
            { type: "CALL", to: C, value: "0x2" },
            { type: "CALL", to: B, value: "0x3", error: "execution reverted" },
            // A delegate call shows its caller's value but moves none to its target.
            { type: "DELEGATECALL", to: B, value: "0x5" },
            { type: "CALL", to: C, value: "0x4" },
          ],
        },
      },
    ];
    const request = async <T>(method: string) => (method === "eth_getBlockByHash" ? raw : frames) as T;
    const got = await readBlockContents(request, block, "block_traces");
    assert.deepEqual([...got.recipients].sort(), [A, C, D].sort());
    assert.deepEqual([...got.direct], [[A, "0x01"]]);
    // What the block credited, to the wei: the transaction's own frame, the inner calls, the
    // withdrawal in gwei.
    assert.deepEqual(
      new Map(got.credits),
      new Map([
        [A, 5n],
        [C, 6n],
        [D, 1_000_000_000n],
      ]),
    );
  });

  it("known credits date a change without reads before the step, only when they add up", function () {
    const contents = (n: bigint, credits: [string, bigint][]) => ({
      ref: { ...block, number: n },
      recipients: new Set(credits.map(([a]) => a)),
      direct: new Map<string, string>(),
      credits: new Map(credits),
    });
    const step = [
      contents(9n, [[A, 7n]]),
      contents(8n, [
        [A, 10n],
        [B, 1n],
      ]),
    ];
    assert.deepEqual(creditsExplain(A, 100n, 117n, step), [
      { block: 8n, balance: 110n },
      { block: 9n, balance: 117n },
    ]);
    // More than the credits (an internal transfer the rotation cannot see, or one before the step).
    assert.equal(creditsExplain(A, 100n, 118n, step), undefined);
    assert.equal(creditsExplain(C, 0n, 5n, step), undefined, "no known credit: read back");
  });

  it("trace_block: calls, creations and self-destructs with value", async function () {
    const traces = [
      { type: "call", action: { to: C, value: "0x2" } },
      { type: "call", action: { to: B, value: "0x0" } },
      { type: "suicide", action: { refundAddress: B, balance: "0x4" } },
      { type: "call", action: { to: D, value: "0x1" }, error: "Reverted" },
    ];
    const request = async <T>(method: string) =>
      (method === "eth_getBlockByHash" ? { ...raw, withdrawals: [] } : traces) as T;
    const got = await readBlockContents(request, block, "trace_block");
    assert.deepEqual([...got.recipients].sort(), [A, B, C].sort());
    // The direct transfer to A has no trace here: its value is not counted as credited.
    assert.deepEqual(
      new Map(got.credits),
      new Map([
        [C, 2n],
        [B, 4n],
      ]),
    );
  });

  it("rotation: slices sized by the time since the last one, at least the smallest, wrapping at the end", async function () {
    let now = 0;
    const rotation = createRotation(10_000, 2, 6, () => now);
    const open = ["0x01", "0x02", "0x03", "0x04", "0x05", "0x06", "0x07", "0x08", "0x09", "0x10"];
    const count = async () => open.length;
    const take = async () => {
      const { after, limit } = await rotation.due(count);
      const slice = open.filter((a) => a > after).slice(0, limit);
      rotation.advance(slice, limit);
      return slice;
    };
    assert.deepEqual(await take(), ["0x01", "0x02"], "no time passed: the smallest slice");
    now += 3_000; // 3 s of a 10 s cycle: 3 of 10
    assert.deepEqual(await take(), ["0x03", "0x04", "0x05"]);
    now += 5_000;
    assert.deepEqual(await take(), ["0x06", "0x07", "0x08", "0x09", "0x10"]);
    now += 1_000; // the pass ended exactly: this slice comes back empty and the next starts over
    assert.deepEqual(await take(), []);
    now += 1_000;
    assert.deepEqual(await take(), ["0x01", "0x02"]);
    now += 60_000; // a long pause: the largest slice, not more
    assert.deepEqual(await take(), ["0x03", "0x04", "0x05", "0x06", "0x07", "0x08"]);
  });
});
