import { fileURLToPath } from "node:url";
import Postgrator from "postgrator";
import type { Db } from "./types.ts";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/** Advisory-lock key so that two processes never migrate at once ("ethpos:migrate"). */
const MIGRATION_LOCK = 7_402_118_301n;

export interface MigrationResult {
  from: number;
  to: number;
  applied: string[];
}

/**
 * Applies the numbered SQL files in server/migrations in one transaction: either all pending
 * migrations land, or none does. The same code path serves PostgreSQL and PGlite. `target` stops at
 * that version (tests of an upgrade: data written as an older version had it, then migrated).
 */
export async function migrate(db: Db, target?: string): Promise<MigrationResult> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK.toString()]);
    const { rows } = await tx.query<{ name: string }>("SELECT current_database() AS name");
    const postgrator = new Postgrator({
      migrationPattern: `${MIGRATIONS_DIR}/*.sql`,
      driver: "pg",
      database: rows[0]?.name ?? "postgres",
      schemaTable: "schema_migrations",
      execQuery: (sql: string) => tx.query(sql),
    });
    const from = Number(await postgrator.getDatabaseVersion().catch(() => 0)) || 0;
    const applied = await postgrator.migrate(target);
    const to = Number(await postgrator.getDatabaseVersion());
    return { from, to, applied: applied.map((m) => m.filename) };
  });
}
