import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { BlockNotFoundError, type Hex } from "viem";
import { TRANSFER_TOPIC } from "../../server/src/deposits/abi.ts";
import { depositBalanceReader } from "../../server/src/deposits/sources.ts";
import type { Db } from "../../server/src/db/types.ts";
import { getRawLogs, isRetryable } from "../../server/src/indexer/rpc.ts";
import { startNodeChain } from "../support/node-chain.ts";

/**
 * Reads pinned to a block hash that a reorg has just removed. The long soak (seed 1131) stopped a
 * chain's indexer for good: the deposit balance reader's eth_call at a vanished block's hash got
 * Hardhat's -32602 "invalid block tag", an error that names no reorg and was taken as fatal. On a
 * real `hardhat node`, such a read must fail with the retryable BlockNotFoundError, so that the
 * step is read again on the new branch, while a read at a block that exists still works.
 */
describe("reads at a block hash a reorg removed are retryable (hardhat node)", function () {
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  let multicall3: `0x${string}`;
  let gone: Hex; // a block hash on the abandoned branch
  let kept: Hex; // the canonical block at the same height

  before(async function () {
    chain = await startNodeChain();
    multicall3 = await chain.deploy("mocks/Multicall3.sol/Multicall3.json");
    const snapshot = await chain.snapshot();
    await chain.mine(1);
    gone = (await chain.client.getBlock({ blockTag: "latest" })).hash;
    await chain.revert(snapshot);
    // The new branch differs: a transaction of its own in the block at that height.
    await chain.wallet.sendTransaction({ to: chain.owner, value: 1n, account: chain.other, chain: null });
    kept = (await chain.client.getBlock({ blockTag: "latest" })).hash;
    assert.notEqual(kept, gone);
    assert.equal(await chain.client.request({ method: "eth_getBlockByHash", params: [gone, false] }), null);
  });

  after(async function () {
    await chain?.stop();
  });

  const reader = () =>
    depositBalanceReader({
      db: undefined as unknown as Db,
      client: chain.client,
      chainId: 31337n,
      multicall3,
    });

  it("the deposit balance reader: BlockNotFoundError at the removed block, balances at the kept one", async function () {
    const error = await reader()
      .balancesAt([chain.customer], gone)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof BlockNotFoundError, `got ${String(error)}`);
    assert.equal(isRetryable(error), true);
    const [balance] = await reader().balancesAt([chain.customer], kept);
    assert.equal(balance, await chain.client.getBalance({ address: chain.customer, blockTag: "latest" }));
  });

  it("eth_getLogs by block hash: retryable at the removed block, logs at the kept one", async function () {
    const filter = { address: [multicall3], topics: [TRANSFER_TOPIC] };
    const error = await getRawLogs(chain.client, filter, { blockHash: gone }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Hardhat answers -32602 for an unknown hash; the read turns it into the retryable BlockNotFoundError.
    assert.ok(error instanceof BlockNotFoundError, `got ${String(error)}`);
    assert.equal(isRetryable(error), true);
    assert.deepEqual(await getRawLogs(chain.client, filter, { blockHash: kept }), []);
  });
});
