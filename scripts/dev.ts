/**
 * `npm start`: the whole system on embedded defaults.
 *   - RPC_URL unset → a local Hardhat node on 127.0.0.1:8545 with the contracts deployed by Ignition;
 *   - DATABASE_URL unset → embedded PGlite under .data/;
 *   - then migrations, the indexer, callbacks and the API. Ctrl-C stops everything.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createPublicClient, createWalletClient, formatEther, http } from "viem";
import { loadConfig } from "../server/src/config/index.ts";
import { ConfigError } from "../server/src/lib/errors.ts";
import { startSystem, type System } from "../server/src/system.ts";
import { deployLocal, startLocalChain, type LocalChain } from "./lib/local-chain.ts";

const say = (message: string) => console.log(`[ethereum-pos] ${message}`);

async function main() {
  const env = { ...process.env };
  env.POLL_INTERVAL_MS ??= env.RPC_URL ? undefined : "100";
  let chain: LocalChain | undefined;
  let system: System | undefined;
  let stopping = false;

  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    say("stopping…");
    await system?.close().catch(() => {});
    await chain?.stop().catch(() => {});
    say("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  try {
    loadConfig(env); // validate before starting anything
    const dataDir = env.DATA_DIR ?? ".data";
    mkdirSync(dataDir, { recursive: true });
    // The admin token lets `npm run merchant` reach the embedded database through the running server.
    const tokenFile = `${dataDir}/admin-token`;
    if (!env.ADMIN_TOKEN) {
      if (!existsSync(tokenFile)) writeFileSync(tokenFile, randomBytes(24).toString("hex"), { mode: 0o600 });
      env.ADMIN_TOKEN = readFileSync(tokenFile, "utf8").trim();
    }
    if (!env.RPC_URL) {
      const port = Number(env.DEV_CHAIN_PORT ?? 8545);
      say(`starting a local Hardhat chain on 127.0.0.1:${port}…`);
      chain = await startLocalChain(port);
      env.RPC_URL = chain.url;
      // hardhat node serves WebSocket on the same port: newHeads wakes the indexer as soon as a block is mined.
      env.RPC_WS_URL ??= chain.url.replace(/^http/, "ws");
      env.LOCAL_RPC_URL = chain.url;
      process.env.LOCAL_RPC_URL = chain.url;
      say("deploying the contracts with Hardhat Ignition…");
      deployLocal();
    }
    const config = loadConfig(env);
    say(
      `database: ${config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded PGlite in ${config.dataDir}`}`,
    );
    system = await startSystem(config);
    await banner(system, Boolean(chain));
  } catch (error) {
    const message =
      error instanceof ConfigError ? `configuration error: ${error.message}` : (error as Error).message;
    console.error(`[ethereum-pos] ${message.split("\n").slice(0, 12).join("\n")}`);
    await system?.close().catch(() => {});
    await chain?.stop().catch(() => {});
    process.exit(1);
  }
}

async function banner(system: System, local: boolean) {
  const { config } = system;
  const lines = [
    "",
    "Ethereum POS is running",
    `  API            ${config.publicUrl}`,
    `  health         ${config.publicUrl}/health`,
    `  API docs       ${config.publicUrl}/docs`,
    `  chain          ${config.rpcUrl} (chain id ${system.chainId}, ${config.confirmations} confirmations)`,
    `  contract       ${system.contract}`,
    ...system.tokens.map((t) => `  token          ${t.symbol} ${t.address}`),
    `  admin token    ${config.adminToken} (Authorization: Bearer …, for /admin and npm run merchant)`,
  ];
  if (local) {
    const client = createPublicClient({ transport: http(config.rpcUrl) });
    const accounts = await createWalletClient({ transport: http(config.rpcUrl) }).getAddresses();
    lines.push("  dev accounts (Hardhat's well-known test keys; never use them on a real network):");
    for (const account of accounts.slice(0, 5)) {
      lines.push(`    ${account}  ${formatEther(await client.getBalance({ address: account }))} ETH`);
    }
  }
  lines.push("", "Try: npm run demo    Stop: Ctrl-C", "");
  console.log(lines.join("\n"));
}

await main();
