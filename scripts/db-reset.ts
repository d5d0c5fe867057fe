/**
 * `npm run db:reset`: deletes the chain data of DATABASE_URL (or of the embedded database):
 * orders, contract events, callbacks, indexer state and the per-merchant daily counters. Merchants,
 * their keys and plugins stay. For a database filled from a chain you no longer use (the server
 * refuses to start on it); never on data you need to keep.
 */
import { knownChains, resetChainData } from "../server/src/chain/identity.ts";
import { loadConfig } from "../server/src/config/index.ts";
import { createDb, migrate } from "../server/src/db/index.ts";
import { orderChainIds } from "../server/src/orders/repository.ts";
import { deleteChainData } from "../server/src/runtime/reset.ts";
import { runningDevStack } from "./lib/dev-stack.ts";

try {
  const config = loadConfig();
  const stack = runningDevStack();
  if (stack && !config.databaseUrl) {
    throw new Error(`npm start (pid ${stack.pid}) holds the embedded database: stop it first`);
  }
  const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
    const chains = [...new Set([...(await knownChains(db)), ...(await orderChainIds(db))])];
    await resetChainData(db, chains, deleteChainData, { at: new Date(), reason: "npm run db:reset" });
  } finally {
    await db.close();
  }
  const where = config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `PGlite (${config.dataDir})`;
  console.log(`${where}: chain data deleted; merchants and their keys were kept`);
} catch (error) {
  console.error(`db:reset: ${(error as Error).message}`);
  process.exit(1);
}
