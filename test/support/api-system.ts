import type { Env } from "../../server/src/config/index.ts";
import type { Logger } from "../../server/src/lib/log.ts";
import { startSystem, type System } from "../../server/src/system.ts";
import { createTestChain } from "./chain.ts";
import { testConfig } from "./config.ts";
import { createTestDb, type TestDb } from "./db.ts";

export interface ApiSystem {
  chain: Awaited<ReturnType<typeof createTestChain>>;
  testDb: TestDb;
  system: System;
  close(): Promise<void>;
}

/**
 * Proves `signer`'s address for the merchant with API key `key` (GET /user/addresses/nonce, then
 * POST /user/addresses with the signed challenge): the ledger views cover proven addresses only.
 */
export async function proveAddress(
  system: System,
  key: string,
  signer: { address: string; signMessage(message: string): Promise<string> },
): Promise<void> {
  const headers = { authorization: key };
  const challenge = await system.app.inject({
    method: "GET",
    url: `/user/addresses/nonce?address=${signer.address}`,
    headers,
  });
  if (challenge.statusCode !== 200) throw new Error(`no challenge: ${challenge.body}`);
  const { message, nonce } = challenge.json() as { message: string; nonce: string };
  const proven = await system.app.inject({
    method: "POST",
    url: "/user/addresses",
    headers,
    payload: { address: signer.address, nonce, signature: await signer.signMessage(message) },
  });
  if (proven.statusCode !== 200) throw new Error(`proving the address failed: ${proven.body}`);
}

/**
 * The system on a real in-process chain (test/support/chain.ts: EDR, the payment contract and a
 * mock USDC deployed, the client on the same provider) and a fresh database: the in-process
 * counterpart of startNodeSystem, for tests that drive the chain through ethers. `env` is over the
 * test defaults (test/support/config.ts) and the chain's CONTRACT_ADDRESS and TOKENS; `now` is the
 * recurring billing clock (tests move it); `log` replaces the process logger.
 */
export async function startInProcessSystem(
  options: { env?: Env; now?: () => number; log?: Logger } = {},
): Promise<ApiSystem> {
  const chain = await createTestChain();
  let testDb: TestDb | undefined;
  try {
    testDb = await createTestDb();
    const system = await startSystem(
      testConfig({
        CONTRACT_ADDRESS: chain.contractAddress,
        TOKENS: `USDC:${chain.stablecoinAddress}:6`,
        ...options.env,
      }),
      {
        db: testDb.db,
        client: chain.client,
        listen: false,
        ...(options.now ? { now: options.now } : {}),
        ...(options.log ? { log: options.log } : {}),
      },
    );
    const db = testDb;
    return {
      chain,
      testDb: db,
      system,
      async close() {
        await system.close();
        await db.drop();
        await chain.close();
      },
    };
  } catch (error) {
    await testDb?.drop();
    await chain.close();
    throw error;
  }
}

/**
 * The API on a real in-process chain and a fresh database, without the indexer or callback
 * workers (API tests drive requests only). `env` adds or overrides configuration; `options.now`
 * is the recurring billing clock (tests move it); `options.log` replaces the process logger.
 */
export function startApiSystem(
  env: Record<string, string> = {},
  options: { now?: () => number; log?: Logger } = {},
): Promise<ApiSystem> {
  return startInProcessSystem({
    // No indexer, so no START_BLOCK or FINALITY_BLOCKS of the test defaults; ETH at $3000.
    env: { START_BLOCK: undefined, FINALITY_BLOCKS: undefined, ETH_USD_PRICE: "3000", ...env },
    ...options,
  });
}
