/**
 * `.data/dev-stack.json`: what `npm start` started, so every helper (`npm run demo`,
 * `npm run merchant`, the Hardhat merchant tasks) talks to the running stack whatever ports it
 * was given. `npm start` writes it once everything is up and removes it on a clean exit; a file
 * whose process is gone (a crash, `kill -9`) is stale and ignored.
 *
 * Kept free of heavy imports: hardhat.config.ts reads it on every Hardhat invocation.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

export const DEV_STACK_FILE = "dev-stack.json";

export interface DevStack {
  /** The `npm start` process; the file is stale once it is gone. */
  pid: number;
  startedAt: string;
  dataDir: string;
  database: string;
  api: { url: string; host: string; port: number; docs: string; health: string };
  adminToken: string | undefined;
  chain: {
    rpcUrl: string;
    wsUrl: string | undefined;
    chainId: number;
    confirmations: number;
    /** The local Hardhat node's port, when `npm start` runs one (unset with RPC_URL). */
    localPort: number | undefined;
    /** Interval mining of the local node in ms; 0: a block only per transaction (automine). */
    blockIntervalMs: number | undefined;
    /** The address of the chain's sweeper (SWEEPER_PRIVATE_KEY), when one runs. */
    sweeper?: string | undefined;
    contracts: {
      paymentProcessor: string;
      /** The Subscriptions contract (recurring token pulls), when the chain has one. */
      subscriptions?: string | undefined;
      tokens: { symbol: string; address: string }[];
    };
  };
  eletropay:
    | {
        url: string;
        callbackUrl: string | undefined;
        /** x-eletropay-secret for the private API (ELETROPAY_SHARED_SECRET); unset with an IP allowlist. */
        sharedSecret?: string | undefined;
      }
    | undefined;
  callbackReceiver: { url: string; port: number } | undefined;
}

/**
 * Where the file lives: `DATA_DIR` (default `.data`), relative to the current directory as the
 * server resolves it (or to `base`).
 */
export function devStackPath(dataDir = process.env.DATA_DIR ?? ".data", base = process.cwd()): string {
  return resolve(base, dataDir, DEV_STACK_FILE);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export type DevStackState =
  | { state: "running"; path: string; stack: DevStack }
  | { state: "stale"; path: string; stack: DevStack }
  | { state: "absent"; path: string };

/** Reads the file and tells whether the `npm start` that wrote it still runs. Never throws. */
export function readDevStack(path = devStackPath()): DevStackState {
  if (!existsSync(path)) return { state: "absent", path };
  let stack: DevStack;
  try {
    stack = JSON.parse(readFileSync(path, "utf8")) as DevStack;
  } catch {
    return { state: "absent", path };
  }
  if (typeof stack.pid !== "number" || !stack.api?.url || !stack.chain?.rpcUrl)
    return { state: "absent", path };
  return { state: processAlive(stack.pid) ? "running" : "stale", path, stack };
}

/** The running stack, or undefined; a stale file is reported once through `warn`. */
export function runningDevStack(warn?: (message: string) => void, base?: string): DevStack | undefined {
  const found = readDevStack(devStackPath(undefined, base));
  if (found.state === "stale") {
    warn?.(
      `ignoring ${found.path}: the npm start that wrote it (pid ${found.stack.pid}) is no longer running`,
    );
  }
  return found.state === "running" ? found.stack : undefined;
}

/** The JSON-RPC URL of the local chain a running `npm start` runs (none when it uses RPC_URL). */
export function localChainUrl(base?: string): string | undefined {
  const found = readDevStack(devStackPath(undefined, base));
  return found.state === "running" && found.stack.chain.localPort !== undefined
    ? found.stack.chain.rpcUrl
    : undefined;
}

export function writeDevStack(path: string, stack: DevStack): void {
  // Written whole, then renamed: a reader never sees half a file. It holds the admin token.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stack, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes the file if it is ours (another `npm start` on the same data dir may have replaced it). */
export function removeDevStack(path: string, pid = process.pid): void {
  const found = readDevStack(path);
  if (found.state !== "absent" && found.stack.pid !== pid) return;
  rmSync(path, { force: true });
}
