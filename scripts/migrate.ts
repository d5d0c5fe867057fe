/** `npm run db:migrate`: applies server/migrations to DATABASE_URL, or to the embedded database. */
import { loadConfig } from "../server/src/config/index.ts";
import { createDb, migrate } from "../server/src/db/index.ts";

try {
  const config = loadConfig();
  const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const result = await migrate(db);
  await db.close();
  const where = config.databaseUrl ? "PostgreSQL" : `PGlite (${config.dataDir})`;
  console.log(
    result.applied.length === 0
      ? `${where}: already at version ${result.to}`
      : `${where}: migrated from version ${result.from} to ${result.to} (${result.applied.length} applied)`,
  );
} catch (error) {
  console.error(`db:migrate: ${(error as Error).message}`);
  process.exit(1);
}
