import { randomBytes } from "node:crypto";
import { createDb, migrate, type Db } from "../../server/src/db/index.ts";

export interface TestDb {
  db: Db;
  /** The connection string of the fresh database (undefined on PGlite). */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file. With DATABASE_URL set it creates (and later
 * drops) a uniquely named database on that PostgreSQL server, so runs never collide; otherwise
 * it is an in-memory PGlite. `migrateTo` stops at that migration (a test of an upgrade).
 */
export async function createTestDb(options: { migrateTo?: string } = {}): Promise<TestDb> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const db = await createDb({ databaseUrl: undefined, dataDir: undefined });
    await migrate(db, options.migrateTo);
    return { db, url: undefined, drop: () => db.close() };
  }
  const name = `ethpos_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = await createDb({ databaseUrl: serverUrl, dataDir: undefined });
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = await createDb({ databaseUrl: url.toString(), dataDir: undefined });
  await migrate(db, options.migrateTo);
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.close();
    },
  };
}

/** Whether the tests run on real PostgreSQL (true) or embedded PGlite (false). */
export const onRealPostgres = (): boolean => Boolean(process.env.DATABASE_URL);
