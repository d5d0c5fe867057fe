/**
 * `npm start`: the whole system on embedded defaults.
 *   - the whole configuration is checked first, every problem reported at once, before anything
 *     starts (no chain, no deployment, no dev-data reset on a bad configuration);
 *   - RPC_URL unset → a local Hardhat node on 127.0.0.1:DEV_CHAIN_PORT (8545) with the contracts
 *     deployed by Ignition, mining a block every DEV_BLOCK_INTERVAL_MS (1000) as a real chain does;
 *   - DATABASE_URL unset → embedded PGlite under .data/;
 *   - on that local chain, a dev sweeper: Hardhat's dev account #9 (DEV_SWEEPER_KEY below; not the
 *     deployer #0, nor the customer #0 or merchant #1 of the demo and the README) sweeps
 *     confirmed deposits into the contract, so a plain transfer reaches `complete`;
 *   - then migrations, the indexer, callbacks, the API, and a dev callback receiver (the harness's, test/support/receiver.ts) on
 *     127.0.0.1:DEV_CALLBACK_PORT (3002) that prints every callback it gets;
 *   - what was started is recorded in .data/dev-stack.json for the helpers (demo, merchant, the
 *     Hardhat merchant tasks). Ctrl-C stops everything and removes that file.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { relative } from "node:path";
import { createPublicClient, createWalletClient, formatEther, http } from "viem";
import { systemSecret } from "../server/src/callbacks/secrets.ts";
import { lastChainReset, type ChainReset } from "../server/src/chain/identity.ts";
import { loadConfig, type ChainConfig, type Config } from "../server/src/config/index.ts";
import { createEnvReader, type Env } from "../server/src/config/env.ts";
import { ConfigProblems } from "../server/src/config/errors.ts";
import { ConfigError } from "../server/src/lib/errors.ts";
import { startSystem, type System } from "../server/src/system.ts";
import { startReceiver, type Receiver } from "../test/support/receiver.ts";
import { buildWeb } from "./build-web.ts";
import { devAccountLines } from "./lib/dev-accounts.ts";
import { devStackPath, readDevStack, removeDevStack, writeDevStack, type DevStack } from "./lib/dev-stack.ts";
import {
  deployLocal,
  localDeploymentDir,
  setIntervalMining,
  startLocalChain,
  type LocalChain,
} from "./lib/local-chain.ts";

/**
 * Hardhat's well-known dev account #9 (0xa0Ee7A142d267C1f36714E4a8F75612F20a79720): the local
 * chain's sweeper. Public knowledge, funded only on the local chain; never use it on a real network.
 */
const DEV_SWEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

const say = (message: string) => console.log(`[ethereum-pos] ${message}`);

/**
 * How many callbacks the dev receiver keeps. It answers 200 to every POST on 127.0.0.1:DEV_CALLBACK_PORT,
 * prints one line per callback with its signature checked against the system secret and
 * EletroPay's, and a GET `?order=<id>` answers that order's, which is how `npm run demo` shows them.
 */
const DEV_RECEIVER_KEEPS = 100;

/** Settings only `npm start` reads (the server itself never runs a chain or a receiver). */
interface DevSettings {
  chainPort: number;
  blockIntervalMs: number;
  callbackPort: number;
  /**
   * DEV_DEPLOYMENT_ID: the Ignition deployment id of the local chain's contracts (default
   * Ignition's `chain-31337`). A second stack (a test's) names its own, so that it never removes
   * or reads the developer's `ignition/deployments/chain-31337/`; with DATA_DIR it then shares
   * no file with the developer's `npm start`.
   */
  deploymentId: string | undefined;
}

/** Collects every problem instead of stopping at the first. */
function check<T>(problems: string[], read: () => T, fallback: T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (error instanceof ConfigProblems) problems.push(...error.problems);
    else problems.push(error.message);
    return fallback;
  }
}

/** The trimmed value of a variable, or undefined when unset or blank. */
const optional = (env: Env, name: string) => createEnvReader(env).optionalStr(name);

function devSettings(env: Env, problems: string[]): DevSettings {
  const read = createEnvReader(env);
  const settings = {
    chainPort: read.int("DEV_CHAIN_PORT", 8545, 1, 65_535),
    blockIntervalMs: read.int("DEV_BLOCK_INTERVAL_MS", 1_000, 0, 3_600_000),
    callbackPort: read.int("DEV_CALLBACK_PORT", 3002, 0, 65_535),
    deploymentId: read.optionalStr("DEV_DEPLOYMENT_ID"),
  };
  if (settings.deploymentId !== undefined && !/^[A-Za-z0-9_-]{1,100}$/.test(settings.deploymentId)) {
    read.problem(
      `DEV_DEPLOYMENT_ID must be letters, digits, _ and - (an Ignition deployment id), got "${settings.deploymentId}"`,
      "DEV_DEPLOYMENT_ID",
    );
  }
  problems.push(...read.problems);
  return settings;
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function main() {
  const startedAt = new Date();
  const env: Record<string, string | undefined> = { ...process.env };
  const problems: string[] = [];
  const dev = devSettings(env, problems);

  // The final environment, as the server will get it, before anything starts.
  const local = !optional(env, "RPC_URL") && !optional(env, "CHAINS");
  if (local) {
    env.RPC_URL = `http://127.0.0.1:${dev.chainPort}`;
    // hardhat node serves WebSocket on the same port: newHeads wakes the indexer as soon as a block is mined.
    env.RPC_WS_URL ??= `ws://127.0.0.1:${dev.chainPort}`;
    env.POLL_INTERVAL_MS ??= "100";
    // The server reads this stack's Ignition deployment only because it is named here.
    // DEV_DEPLOYMENT_ID (a second stack, e.g. a test's) names its own deployment.
    env.IGNITION_DEPLOYMENT_DIR ??= localDeploymentDir(dev.deploymentId);
    // A dev sweeper, so plain transfers reach `complete`. The local node's fees are test fees (a
    // 1 gwei tip would cost more than 5 % of a $1 order): gas may take up to the whole deposit.
    env.SWEEPER_PRIVATE_KEY ??= DEV_SWEEPER_KEY;
    env.SWEEP_MAX_GAS_SHARE ??= "1";
  }
  const dataDirSetting = optional(env, "DATA_DIR") ?? ".data";
  // The admin token lets `npm run merchant` reach the embedded database through the running server.
  const tokenFile = `${dataDirSetting}/admin-token`;
  let newToken: string | undefined;
  if (!optional(env, "ADMIN_TOKEN")) {
    if (existsSync(tokenFile)) env.ADMIN_TOKEN = readFileSync(tokenFile, "utf8").trim();
    else env.ADMIN_TOKEN = newToken = randomBytes(24).toString("hex");
  }
  // EletroPay callbacks go to the dev receiver unless ELETROPAY_CALLBACK_URL says otherwise.
  const eletropayWanted =
    Object.keys(env).some((name) => /^XPUB_/.test(name) && optional(env, name)) ||
    /^(1|true|yes|on)$/i.test(optional(env, "ELETROPAY_ETH") ?? "");
  // Its dev secrets are generated once and kept under the data directory, like the admin token:
  // the token key must outlive restarts (it decrypts stored client tokens), and the shared secret
  // is what callers send in x-eletropay-secret (docs/security.md, finding 6).
  const newSecrets: { file: string; value: string }[] = [];
  const keep = (name: string, file: string) => {
    if (optional(env, name)) return;
    if (existsSync(file)) env[name] = readFileSync(file, "utf8").trim();
    else newSecrets.push({ file, value: (env[name] = randomBytes(32).toString("hex")) });
  };
  if (eletropayWanted) {
    keep("ELETROPAY_TOKEN_KEY", `${dataDirSetting}/eletropay-token-key`);
    // An operator who lists EletroPay's addresses in ELETROPAY_ALLOW_IPS chose that instead.
    if (!optional(env, "ELETROPAY_ALLOW_IPS"))
      keep("ELETROPAY_SHARED_SECRET", `${dataDirSetting}/eletropay-secret`);
  }
  const receiverRuns = dev.callbackPort !== 0 && optional(env, "NODE_ENV") !== "production";
  // The SSRF guard refuses loopback targets by default; the dev stack turns them on explicitly,
  // for its own receiver on 127.0.0.1 (docs/security.md). CALLBACK_ALLOW_PRIVATE=false keeps it off.
  if (receiverRuns && optional(env, "CALLBACK_ALLOW_PRIVATE") === undefined)
    env.CALLBACK_ALLOW_PRIVATE = "true";
  if (eletropayWanted && receiverRuns && !optional(env, "ELETROPAY_CALLBACK_URL")) {
    env.ELETROPAY_CALLBACK_URL = `http://127.0.0.1:${dev.callbackPort}`;
  }
  const config = check<Config | undefined>(problems, () => loadConfig(env), undefined);
  const eletropay = config?.eletropay;

  if (config) {
    const busy = async (host: string, port: number, fix: string) => {
      if (port !== 0 && !(await portFree(host, port)))
        problems.push(`port ${port} on ${host} is in use: ${fix}`);
    };
    const stackFile = readDevStack(devStackPath(config.dataDir));
    if (stackFile.state === "running") {
      problems.push(
        `npm start is already running on this data directory (pid ${stackFile.stack.pid}, API ${stackFile.stack.api.url}): ` +
          "stop it first, or give this one its own DATA_DIR, PORT and DEV_CHAIN_PORT",
      );
    } else {
      await busy(config.host, config.port, "stop what holds it or set PORT to a free port");
      if (eletropay?.enabled) {
        await busy(eletropay.host, eletropay.port, "stop what holds it or set ELETROPAY_PORT to a free port");
      }
      if (local)
        await busy("127.0.0.1", dev.chainPort, "stop what holds it or set DEV_CHAIN_PORT to a free port");
      if (config.env !== "production") {
        await busy(
          "127.0.0.1",
          dev.callbackPort,
          "stop what holds it, set DEV_CALLBACK_PORT to a free port, or DEV_CALLBACK_PORT=0 to run no receiver",
        );
      }
      if (stackFile.state === "stale") {
        say(
          `removing ${relative(process.cwd(), stackFile.path)} left by an npm start that is gone (pid ${stackFile.stack.pid})`,
        );
        removeDevStack(stackFile.path, stackFile.stack.pid);
      }
    }
  }
  if (problems.length > 0 || !config) {
    console.error(
      `[ethereum-pos] ${problems.length === 1 ? "a problem" : `${problems.length} problems`} to fix; nothing was started:\n` +
        problems.map((p) => `  - ${p.replace(/\n/g, "\n    ")}`).join("\n"),
    );
    process.exit(1);
  }

  let chain: LocalChain | undefined;
  let system: System | undefined;
  let receiver: Receiver | undefined;
  let stopping = false;
  const stackPath = devStackPath(config.dataDir);

  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    say("stopping…");
    removeDevStack(stackPath);
    await receiver?.close().catch(() => {});
    await system?.close().catch(() => {});
    await chain?.stop().catch(() => {});
    say("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  process.on("exit", () => removeDevStack(stackPath));

  try {
    mkdirSync(config.dataDir, { recursive: true });
    if (newToken) writeFileSync(tokenFile, newToken, { mode: 0o600 });
    for (const { file, value } of newSecrets) writeFileSync(file, value, { mode: 0o600 });
    if (local) {
      say(`starting a local Hardhat chain on 127.0.0.1:${dev.chainPort}…`);
      chain = await startLocalChain(dev.chainPort);
      chain.process.once("exit", (code) => {
        if (stopping) return;
        console.error(`[ethereum-pos] the local Hardhat chain exited (code ${code}); stopping`);
        void stop(1);
      });
      // Ignition's deploy reads the localhost network's URL from here (an explicit override of dev-stack.json).
      process.env.LOCAL_RPC_URL = chain.url;
      say("deploying the contracts with Hardhat Ignition…");
      deployLocal("localhost", dev.deploymentId);
      // After the deployment, so Ignition sees instant (automined) receipts.
      if (dev.blockIntervalMs > 0) await setIntervalMining(chain.url, dev.blockIntervalMs);
    }
    say(
      `database: ${config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded PGlite in ${config.dataDir}`}`,
    );
    // The console's and point of sale's script bundles (esbuild, well under a second).
    for (const b of await buildWeb(false)) say(`web: ${b.name} ${(b.gzip / 1024).toFixed(1)} KiB gzip`);
    system = await startSystem(config);
    const reset = await lastChainReset(system.db);
    if (config.env !== "production" && dev.callbackPort !== 0) {
      const db = system.db;
      const callbackSecret = optional(env, "CALLBACK_SECRET");
      const eletropaySecret = optional(env, "ELETROPAY_CALLBACK_SECRET");
      receiver = await startReceiver({
        port: dev.callbackPort,
        path: "/callback",
        keep: DEV_RECEIVER_KEEPS,
        secrets: async () => [
          await systemSecret(db, { callbackSecret }),
          ...(eletropaySecret ? [eletropaySecret] : []),
        ],
        print: (line) => say(line),
      });
    }
    const stack = describeStack(system, startedAt, dev, local, receiver, env.ELETROPAY_CALLBACK_URL);
    writeDevStack(stackPath, stack);
    await banner(system, stack, reset && reset.at >= startedAt ? reset : undefined, stackPath);
  } catch (error) {
    const message =
      error instanceof ConfigError ? `configuration error: ${error.message}` : (error as Error).message;
    // A configuration error lists every problem; anything else is cut to its first lines.
    const shown = error instanceof ConfigError ? message : message.split("\n").slice(0, 12).join("\n");
    console.error(`[ethereum-pos] ${shown}`);
    stopping = true;
    removeDevStack(stackPath);
    await receiver?.close().catch(() => {});
    await system?.close().catch(() => {});
    await chain?.stop().catch(() => {});
    process.exit(1);
  }
}

function listenerUrl(system: System): string | undefined {
  const address = system.eletropay?.app.server.address();
  if (!address || typeof address === "string") return undefined;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function describeStack(
  system: System,
  startedAt: Date,
  dev: DevSettings,
  local: boolean,
  receiver: Receiver | undefined,
  eletropayCallbackUrl: string | undefined,
): DevStack {
  const { config } = system;
  // The dev stack runs one chain: the first configured (a local Hardhat node unless RPC_URL is set).
  const chain = config.chains[0] as ChainConfig;
  const eletropayUrl = listenerUrl(system);
  return {
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    dataDir: config.dataDir,
    database: config.databaseUrl ? "postgresql" : "pglite",
    api: {
      url: config.publicUrl,
      host: config.host,
      port: config.port,
      docs: `${config.publicUrl}/docs`,
      health: `${config.publicUrl}/health`,
    },
    adminToken: config.adminToken,
    chain: {
      rpcUrl: chain.rpcUrl as string,
      wsUrl: chain.rpcWsUrl,
      chainId: Number(system.chainId),
      confirmations: chain.confirmations,
      localPort: local ? dev.chainPort : undefined,
      blockIntervalMs: local ? dev.blockIntervalMs : undefined,
      sweeper: system.chains[0]?.sweeper?.address,
      contracts: {
        paymentProcessor: system.contract,
        subscriptions: system.chains[0]?.subscriptions,
        tokens: system.tokens.map((t) => ({ symbol: t.symbol, address: t.address })),
      },
    },
    eletropay: eletropayUrl
      ? {
          url: eletropayUrl,
          callbackUrl: eletropayCallbackUrl,
          sharedSecret: config.eletropay.sharedSecret,
        }
      : undefined,
    callbackReceiver: receiver ? { url: receiver.url, port: receiver.port } : undefined,
  };
}

async function banner(system: System, stack: DevStack, reset: ChainReset | undefined, stackPath: string) {
  const { config } = system;
  const interval = stack.chain.blockIntervalMs;
  const lines = [
    "",
    "Ethereum POS is running",
    `  API            ${stack.api.url}`,
    `  health         ${stack.api.health}`,
    `  API docs       ${stack.api.docs}`,
    `  console        ${stack.api.url}/console (merchants: sign in with a wallet or an API key)`,
    `  point of sale  ${stack.api.url}/pos (a cashier's keypad: a terminal key or a console session)`,
    `  chain          ${stack.chain.rpcUrl} (chain id ${stack.chain.chainId}, ${stack.chain.confirmations} confirmations)`,
  ];
  if (interval !== undefined) {
    lines.push(
      interval > 0
        ? `  mining         a block every ${interval / 1000} s (DEV_BLOCK_INTERVAL_MS), and one per transaction: ` +
            `a payment is complete ~${Math.ceil(((stack.chain.confirmations - 1) * interval) / 1000)} s after it is mined`
        : "  mining         one block per transaction only (DEV_BLOCK_INTERVAL_MS=0): mine confirmations with evm_mine",
    );
  }
  const sweeper = system.chains[0]?.sweeper;
  lines.push(
    sweeper
      ? `  sweeper        ${sweeper.address} sweeps confirmed deposits into the contract (gas money only; SWEEPER_PRIVATE_KEY)`
      : "  sweeper        none (no SWEEPER_PRIVATE_KEY): paid orders stay success with awaiting_sweep until someone sweeps",
    `  contract       ${stack.chain.contracts.paymentProcessor}`,
    system.chains[0]?.subscriptions
      ? `  subscriptions  ${system.chains[0].subscriptions} recurring token pulls; ${
          system.chains[0].collector
            ? `collected when due by ${system.chains[0].collector.address} (the sweeper's key)`
            : "collected by anyone (no SWEEPER_PRIVATE_KEY)"
        }`
      : "  subscriptions  off (no SUBSCRIPTIONS_ADDRESS and no Ignition deployment of Subscriptions)",
    ...stack.chain.contracts.tokens.map((t) => `  token          ${t.symbol} ${t.address}`),
  );
  if (stack.eletropay) {
    const { url, sharedSecret } = stack.eletropay;
    lines.push(
      `  EletroPay      ${url} (private API, docs/eletropay.md); ` +
        `payment callbacks to ${stack.eletropay.callbackUrl ?? "?"}`,
    );
    if (sharedSecret) {
      lines.push(
        `  EletroPay key  ${sharedSecret} (x-eletropay-secret; ELETROPAY_SHARED_SECRET, kept in ${relative(process.cwd(), config.dataDir) || "."})`,
        `    curl -s -H 'x-eletropay-secret: ${sharedSecret}' -H 'content-type: application/json' \\`,
        `      -d '{"email":"pos@example.com"}' ${url}/v1/clients`,
        `    curl -s -H 'x-eletropay-secret: ${sharedSecret}' ${url}/v1/clients/<token>/<currency>`,
      );
    }
  }
  if (stack.callbackReceiver) {
    lines.push(
      `  callbacks      ${stack.callbackReceiver.url} prints here every callback sent to it (DEV_CALLBACK_PORT)`,
    );
  }
  lines.push(
    `  admin token    ${config.adminToken} (Authorization: Bearer …, for /admin and npm run merchant)`,
    `  database       ${config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded PGlite in ${relative(process.cwd(), config.dataDir) || "."}`}`,
    `  stack file     ${relative(process.cwd(), stackPath)} (read by npm run demo, npm run merchant, the merchant tasks)`,
  );
  if (stack.chain.localPort !== undefined) {
    lines.push(
      reset
        ? "  dev data       local chain is new: dev orders from the previous run were cleared " +
            "(Hardhat's node cannot keep its state); merchants and API keys were kept"
        : "  dev data       orders last as long as this local chain: the next npm start clears them (merchants stay)",
    );
    const client = createPublicClient({ transport: http(stack.chain.rpcUrl) });
    const accounts = await createWalletClient({ transport: http(stack.chain.rpcUrl) }).getAddresses();
    const funded = [];
    for (const address of accounts.slice(0, 5)) {
      funded.push({ address, balance: formatEther(await client.getBalance({ address })) });
    }
    lines.push(...devAccountLines(funded));
  }
  lines.push("", "Try: npm run demo    Stop: Ctrl-C", "");
  console.log(lines.join("\n"));
}

await main();
