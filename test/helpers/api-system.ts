import { loadConfig } from "../../server/src/config/index.ts";
import { startSystem, type System } from "../../server/src/system.ts";
import { createTestChain } from "./chain.ts";
import { createTestDb, type TestDb } from "./db.ts";

export interface ApiSystem {
  chain: Awaited<ReturnType<typeof createTestChain>>;
  testDb: TestDb;
  system: System;
  close(): Promise<void>;
}

/**
 * The API on a real in-process chain and a fresh database, without the indexer or callback
 * workers (API tests drive requests only). `env` adds or overrides configuration; `options.now`
 * is the recurring billing clock (tests move it).
 */
export async function startApiSystem(
  env: Record<string, string> = {},
  options: { now?: () => number } = {},
): Promise<ApiSystem> {
  const chain = await createTestChain();
  const testDb = await createTestDb();
  const system = await startSystem(
    loadConfig({
      NODE_ENV: "test",
      ETH_USD_PRICE: "3000",
      CONTRACT_ADDRESS: chain.contractAddress,
      TOKENS: `USDC:${chain.stablecoinAddress}:6`,
      RUN_INDEXER: "false",
      RUN_CALLBACK_WORKER: "false",
      // Tests deliver to loopback receivers: allowed explicitly (the guard is on by default).
      CALLBACK_ALLOW_PRIVATE: "true",
      ...env,
    }),
    { db: testDb.db, client: chain.client, listen: false, ...(options.now ? { now: options.now } : {}) },
  );
  return {
    chain,
    testDb,
    system,
    async close() {
      await system.close();
      await testDb.drop();
      await chain.close();
    },
  };
}
