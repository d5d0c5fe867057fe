/**
 * `npm run merchant -- create --email <e> --plan <plan>`: creates a merchant and prints its API key.
 * `npm run merchant -- key --email <e> [--keep-terminal-keys]`: rotates the key; every console
 *   session of the merchant ends, and its terminal keys are revoked unless --keep-terminal-keys.
 * `… plan --email <e> --plan <plan>`.
 * `npm run merchant -- eletropay-link --email <e> --client <client email or token> --payout <0x…>`:
 *   EletroPay ETH/token addresses of that client become deposit addresses of this merchant.
 * `npm run merchant -- plugins --email <e> [--txt-messaging on|off] [--recurring-payments on|off]
 *   [--notify-url <url>|none] [--notify-phone <+E.164>|none] [--txt-limit 150|500]`: plugins.
 * `npm run merchant -- callback-secret --email <e> [--overlap-hours 0..168]`: rotates the secret that
 *   signs the merchant's callbacks and prints the new one once; the old one signs beside it for the
 *   overlap (default 24 h).
 * `npm run merchant -- prove-address --api-key <key> --dev-account <n>`: the dev stack only. Proves
 *   Hardhat dev account #n (the public test mnemonic's) as a payout address of the account with that
 *   API key, signing the challenge with the dev key, so a terminal key and the point of sale can be
 *   tried without a browser wallet. Refused unless a running `npm start` runs its own chain 31337.
 * While `npm start` runs, it goes through that server's admin API, at the URL and with the admin
 * token recorded in .data/dev-stack.json (whatever PORT it was started with; ADMIN_TOKEN overrides
 * the token). Otherwise it writes to the database itself: PostgreSQL with DATABASE_URL, else the
 * embedded database in DATA_DIR, or a server found at PUBLIC_URL / PORT holding it.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { mnemonicToAccount } from "viem/accounts";
import { runningDevStack } from "./lib/dev-stack.ts";
import { loadConfig } from "../server/src/config/index.ts";
import { createDb, migrate } from "../server/src/db/index.ts";
import {
  createMerchant,
  createMerchantService,
  notificationsJson,
  rotateApiKey,
  setPlan,
  setPlugins,
  type PluginChanges,
} from "../server/src/merchants/service.ts";
import { PLAN_NAMES } from "../server/src/merchants/plans.ts";
import { linkEletroPayClient } from "../server/src/eletropay/eth.ts";

const usage = `usage:
  npm run merchant -- create --email <email> [--plan ${PLAN_NAMES.join("|")}]
  npm run merchant -- key --email <email> [--keep-terminal-keys]
  npm run merchant -- plan --email <email> --plan <plan>
  npm run merchant -- plugins --email <email> [--txt-messaging on|off] [--recurring-payments on|off]
      [--notify-url <url>|none] [--notify-phone <+E.164>|none] [--txt-limit 150|500]
  npm run merchant -- eletropay-link --email <merchant email> --client <client email or token> --payout <0x…>
  npm run merchant -- callback-secret --email <email> [--overlap-hours 0..168, default 24]
  npm run merchant -- prove-address --api-key <key> --dev-account <0..19>   (npm start's local chain only)`;

/** The chain id of the local Hardhat chain `npm start` runs. */
const DEV_CHAIN_ID = 31337;
/** Hardhat's public test mnemonic: its keys are known to everyone and worth nothing off the dev chain. */
const HARDHAT_MNEMONIC = "test test test test test test test test test test test junk";

/**
 * Proves a Hardhat dev account as a payout address, through the running dev stack's API (the
 * challenge of GET /user/addresses/nonce, signed with the dev key). It checks first that the
 * stack is `npm start` on its own chain 31337, asking the server itself, not only the file: a
 * public test key proves nothing anyone could not, and must never stand for a payout address of a
 * real deployment.
 */
async function proveDevAddress(apiKey: string, index: string) {
  if (!/^\d{1,2}$/.test(index) || Number(index) > 19)
    throw new Error(`--dev-account must be a Hardhat dev account number from 0 to 19, got "${index}"`);
  const refused =
    "--dev-account signs with a public Hardhat test key, so it works only against npm start's own local chain";
  const stack = runningDevStack((message) => console.warn(`merchant: ${message}`));
  if (!stack)
    throw new Error(
      `${refused}: no running npm start was found (no .data/dev-stack.json; DATA_DIR names another directory)`,
    );
  if (stack.chain.localPort === undefined || stack.chain.chainId !== DEV_CHAIN_ID) {
    throw new Error(
      `${refused} (chain ${DEV_CHAIN_ID}); this npm start follows chain ${stack.chain.chainId} at ${stack.chain.rpcUrl}: prove your own address with your wallet in the console`,
    );
  }
  const health = await fetch(`${stack.api.url}/health`, {
    headers: stack.adminToken ? { authorization: `Bearer ${stack.adminToken}` } : {},
  })
    .then((r) => r.json() as Promise<{ chains?: { chain_id: number }[] }>)
    .catch(() => {
      throw new Error(
        `npm start (pid ${stack.pid}) recorded its API at ${stack.api.url}, but it does not answer`,
      );
    });
  const chainIds = (health.chains ?? []).map((c) => c.chain_id);
  if (chainIds.length === 0 || chainIds.some((id) => id !== DEV_CHAIN_ID)) {
    throw new Error(
      `${refused} (chain ${DEV_CHAIN_ID}); the server at ${stack.api.url} runs on chain ${chainIds.join(", ") || "unknown"}`,
    );
  }

  const account = mnemonicToAccount(HARDHAT_MNEMONIC, { addressIndex: Number(index) });
  const headers = { authorization: apiKey, accept: "application/json" };
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${stack.api.url}${path}`, { ...init, headers: { ...headers, ...init.headers } });
    const json = (await res.json()) as { error?: { message: string } } & Record<string, string>;
    if (!res.ok) throw new Error(json.error?.message ?? `HTTP ${res.status}`);
    return json;
  };
  const challenge = await call(`/user/addresses/nonce?address=${account.address}`);
  const proven = await call("/user/addresses", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      address: account.address,
      nonce: challenge.nonce,
      signature: await account.signMessage({ message: challenge.message as string }),
    }),
  });
  console.log(
    `proved ${proven.address} (Hardhat dev account #${index}, a public test key: dev chain only) for the account of this API key`,
  );
  console.log(
    `use it as a terminal key's address: POST /user/terminal-keys {"address":"${proven.address}", …}`,
  );
}

/** Plugin options into the admin API's body; "none" clears a setting. */
function pluginChanges(values: Record<string, string | undefined>): PluginChanges {
  const flag = (name: string) => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (value !== "on" && value !== "off") throw new Error(`--${name} must be on or off`);
    return value === "on";
  };
  const clearable = (name: string) => {
    const value = values[name];
    return value === "none" ? null : value;
  };
  const limit = values["txt-limit"];
  return {
    txt_messaging: flag("txt-messaging"),
    recurring_payments: flag("recurring-payments"),
    notify_url: clearable("notify-url"),
    notify_phone: clearable("notify-phone"),
    txt_messaging_limit: limit === undefined ? undefined : Number(limit),
  };
}

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
    options: {
      email: { type: "string" },
      plan: { type: "string" },
      "txt-messaging": { type: "string" },
      "recurring-payments": { type: "string" },
      "notify-url": { type: "string" },
      "notify-phone": { type: "string" },
      "txt-limit": { type: "string" },
      client: { type: "string" },
      payout: { type: "string" },
      "overlap-hours": { type: "string" },
      "api-key": { type: "string" },
      "dev-account": { type: "string" },
      "keep-terminal-keys": { type: "boolean" },
    },
  });
  const command = positionals[0];
  if (command === "prove-address") {
    if (!values["api-key"] || values["dev-account"] === undefined) {
      console.error(usage);
      process.exit(2);
    }
    await proveDevAddress(values["api-key"], values["dev-account"]);
    return;
  }
  if (
    !command ||
    !["create", "key", "plan", "plugins", "eletropay-link", "callback-secret"].includes(command) ||
    !values.email ||
    (command === "plan" && !values.plan) ||
    (command === "eletropay-link" && (!values.client || !values.payout))
  ) {
    console.error(usage);
    process.exit(2);
  }
  const email = values.email;
  const changes =
    command === "plugins" ? pluginChanges({ ...values, "keep-terminal-keys": undefined }) : undefined;
  const config = loadConfig();

  const stack = runningDevStack((message) => console.warn(`merchant: ${message}`));
  const adminToken =
    config.adminToken ??
    stack?.adminToken ??
    (existsSync(`${config.dataDir}/admin-token`)
      ? readFileSync(`${config.dataDir}/admin-token`, "utf8").trim()
      : undefined);
  // The running npm start's API; else a server at PUBLIC_URL that holds the embedded database.
  const apiUrl = stack?.api.url ?? (config.databaseUrl ? undefined : config.publicUrl);
  const serverUp =
    apiUrl !== undefined &&
    adminToken !== undefined &&
    (await fetch(`${apiUrl}/health`).then(
      () => true,
      () => false,
    ));
  if (stack && !serverUp) {
    throw new Error(
      `npm start (pid ${stack.pid}) recorded its API at ${stack.api.url}, but it does not answer` +
        (adminToken ? "" : " (and no admin token is known: set ADMIN_TOKEN)"),
    );
  }

  if (command === "callback-secret") {
    const hours = values["overlap-hours"] === undefined ? 24 : Number(values["overlap-hours"]);
    if (!Number.isInteger(hours) || hours < 0 || hours > 168)
      throw new Error("--overlap-hours must be a whole number of hours from 0 to 168");
    let rotated: Record<string, unknown>;
    if (serverUp && apiUrl && adminToken) {
      rotated = await viaAdminApi(apiUrl, adminToken, "/admin/merchants/callback-secret", {
        email,
        overlap_hours: hours,
      });
    } else {
      const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
      try {
        await migrate(db);
        const r = await createMerchantService(db).rotateCallbackSecret(email, hours * 3600);
        rotated = {
          email: r.merchant.email,
          callback_secret: r.secret,
          previous_valid_until: r.previousValidUntil?.toISOString() ?? null,
        };
      } finally {
        await db.close();
      }
    }
    console.log(`merchant ${String(rotated.email)}: new callback signing secret (shown once):`);
    console.log(String(rotated.callback_secret));
    console.log(
      rotated.previous_valid_until
        ? `the previous secret also signs until ${String(rotated.previous_valid_until)}`
        : "the previous secret no longer signs",
    );
    return;
  }

  if (command === "eletropay-link") {
    const input = {
      merchantEmail: email,
      client: values.client as string,
      payoutAddress: values.payout as string,
    };
    let link: Record<string, unknown>;
    if (serverUp && apiUrl && adminToken) {
      link = await viaAdminApi(apiUrl, adminToken, "/admin/eletropay/links", {
        email,
        client: input.client,
        payout_address: input.payoutAddress,
      });
    } else {
      const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
      try {
        await migrate(db);
        const l = await linkEletroPayClient(db, input);
        link = { client: l.clientEmail, merchant: l.merchantEmail, payout_address: l.payoutAddress };
      } finally {
        await db.close();
      }
    }
    console.log(
      `EletroPay client ${String(link.client)} → merchant ${String(link.merchant)}, payout address ${String(link.payout_address)}`,
    );
    return;
  }

  let result: Record<string, unknown>;
  if (serverUp && apiUrl && adminToken) {
    const path =
      command === "create"
        ? "/admin/merchants"
        : command === "key"
          ? "/admin/merchants/key"
          : command === "plugins"
            ? "/admin/merchants/plugins"
            : "/admin/merchants/plan";
    // JSON.stringify drops the undefined fields: they keep their value.
    const body =
      command === "key"
        ? { email, keep_terminal_keys: values["keep-terminal-keys"] === true }
        : changes
          ? { email, ...changes }
          : { email, plan: values.plan ?? "free" };
    result = await viaAdminApi(apiUrl, adminToken, path, body);
  } else {
    const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      await migrate(db);
      if (command === "create") {
        const { merchant, apiKey } = await createMerchant(db, email, values.plan ?? "free");
        result = { id: Number(merchant.id), email: merchant.email, plan: merchant.plan, api_key: apiKey };
      } else if (command === "key") {
        const r = await rotateApiKey(db, email, { keepTerminalKeys: values["keep-terminal-keys"] === true });
        result = {
          id: Number(r.merchant.id),
          email: r.merchant.email,
          plan: r.merchant.plan,
          api_key: r.apiKey,
          sessions_ended: r.sessionsEnded,
          terminal_keys_revoked: r.terminalKeysRevoked,
        };
      } else if (changes) {
        const merchant = await setPlugins(db, email, changes);
        result = {
          id: Number(merchant.id),
          email: merchant.email,
          plan: merchant.plan,
          plugins: merchant.plugins,
          notifications: await notificationsJson(db, merchant),
        };
      } else {
        const merchant = await setPlan(db, email, values.plan as string);
        result = { id: Number(merchant.id), email: merchant.email, plan: merchant.plan };
      }
    } finally {
      await db.close();
    }
  }
  console.log(`merchant ${result.email} (id ${result.id}, plan ${result.plan})`);
  if (result.plugins) {
    console.log(
      `plugins: ${JSON.stringify(result.plugins)}\nnotifications: ${JSON.stringify(result.notifications)}`,
    );
  }
  if (result.api_key) {
    console.log(`API key (shown once; only its hash is stored):\n  ${result.api_key}`);
  }
  if (result.sessions_ended !== undefined) {
    console.log(
      `console sessions ended: ${String(result.sessions_ended)}; terminal keys revoked: ${String(result.terminal_keys_revoked)}`,
    );
  }
}

main().catch((error: Error) => {
  console.error(`merchant: ${error.message}`);
  process.exit(1);
});
