import { createPgDb } from "./pg.ts";
import { createPgliteDb } from "./pglite.ts";
import type { Db } from "./types.ts";

export type { Db, Queryable, QueryResult } from "./types.ts";
export { migrate } from "./migrate.ts";

export interface DbConfig {
  /** Real PostgreSQL when set; embedded PGlite otherwise. */
  databaseUrl: string | undefined;
  /** PGlite data directory; undefined keeps PGlite in memory (tests). */
  dataDir: string | undefined;
}

export async function createDb(config: DbConfig): Promise<Db> {
  if (config.databaseUrl) return createPgDb({ connectionString: config.databaseUrl });
  return createPgliteDb(config.dataDir);
}
