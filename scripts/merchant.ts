/**
 * `npm run merchant -- create --email <e> --plan <plan>`: creates a merchant and prints its API key.
 * `npm run merchant -- key --email <e>`: rotates the key.  `… plan --email <e> --plan <plan>`.
 * With DATABASE_URL it writes to PostgreSQL directly. With the embedded database it goes through
 * the running server's admin API (ADMIN_TOKEN, or the token `npm start` keeps in .data/), or
 * opens the database itself when no server holds it.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../server/src/config/index.ts";
import { createDb, migrate } from "../server/src/db/index.ts";
import { createMerchant, rotateApiKey, setPlan } from "../server/src/merchants/service.ts";
import { PLAN_NAMES } from "../server/src/merchants/plans.ts";

const usage = `usage:
  npm run merchant -- create --email <email> [--plan ${PLAN_NAMES.join("|")}]
  npm run merchant -- key --email <email>
  npm run merchant -- plan --email <email> --plan <plan>`;

async function viaAdminApi(baseUrl: string, token: string, path: string, body: unknown) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: { message: string } } & Record<string, unknown>;
  if (!res.ok) throw new Error(json.error?.message ?? `HTTP ${res.status}`);
  return json;
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { email: { type: "string" }, plan: { type: "string" } },
  });
  const command = positionals[0];
  if (
    !command ||
    !["create", "key", "plan"].includes(command) ||
    !values.email ||
    (command === "plan" && !values.plan)
  ) {
    console.error(usage);
    process.exit(2);
  }
  const email = values.email;
  const config = loadConfig();

  const adminToken =
    config.adminToken ??
    (existsSync(`${config.dataDir}/admin-token`)
      ? readFileSync(`${config.dataDir}/admin-token`, "utf8").trim()
      : undefined);
  const serverUp =
    !config.databaseUrl &&
    adminToken &&
    (await fetch(`${config.publicUrl}/health`).then(
      () => true,
      () => false,
    ));

  let result: Record<string, unknown>;
  if (serverUp && adminToken) {
    const path =
      command === "create"
        ? "/admin/merchants"
        : command === "key"
          ? "/admin/merchants/key"
          : "/admin/merchants/plan";
    const body = command === "key" ? { email } : { email, plan: values.plan ?? "free" };
    result = await viaAdminApi(config.publicUrl, adminToken, path, body);
  } else {
    const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      await migrate(db);
      if (command === "create") {
        const { merchant, apiKey } = await createMerchant(db, email, values.plan ?? "free");
        result = { id: Number(merchant.id), email: merchant.email, plan: merchant.plan, api_key: apiKey };
      } else if (command === "key") {
        const { merchant, apiKey } = await rotateApiKey(db, email);
        result = { id: Number(merchant.id), email: merchant.email, plan: merchant.plan, api_key: apiKey };
      } else {
        const merchant = await setPlan(db, email, values.plan as string);
        result = { id: Number(merchant.id), email: merchant.email, plan: merchant.plan };
      }
    } finally {
      await db.close();
    }
  }
  console.log(`merchant ${result.email} (id ${result.id}, plan ${result.plan})`);
  if (result.api_key) {
    console.log(`API key (shown once; only its hash is stored):\n  ${result.api_key}`);
  }
}

main().catch((error: Error) => {
  console.error(`merchant: ${error.message}`);
  process.exit(1);
});
