import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { DEV_STACK_FILE, type DevStack } from "../../scripts/lib/dev-stack.ts";
import { freePort } from "./node-chain.ts";

/**
 * The dev stack (`npm start`, scripts/dev.ts) as a child process, for end-to-end tests that talk to
 * it only as anyone else would: over HTTP and through its chain's JSON-RPC.
 *
 * It gets free ports (PORT, DEV_CHAIN_PORT, DEV_CALLBACK_PORT), a data directory of its own under
 * the system's temporary folder (DATA_DIR: the embedded database, the admin token, dev-stack.json)
 * and an Ignition deployment id of its own (DEV_DEPLOYMENT_ID), so it never touches the
 * developer's `.data/` or `ignition/deployments/chain-31337/`, and both are removed when it stops.
 * The environment is built from scratch (PATH, HOME and the locale, then `env`): nothing of the
 * test runner's own configuration (DATABASE_URL, …) reaches it.
 */
export interface DevStackProcess {
  /** What the stack recorded in its dev-stack.json once it was up. */
  stack: DevStack;
  /** The API's base URL (PUBLIC_URL): also the console's origin. */
  apiUrl: string;
  rpcUrl: string;
  chainId: number;
  adminToken: string;
  dataDir: string;
  deploymentId: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Stops it (SIGTERM, as Ctrl-C does) and removes its data directory and deployment record. */
  stop(): Promise<void>;
}

const KEPT_ENV = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "USER"];

export async function startDevStack(
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<DevStackProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), "ethpos-dev-stack-"));
  const deploymentId = `test-dev-stack-${process.pid}-${randomBytes(4).toString("hex")}`;
  const port = await freePort();
  const adminToken = randomBytes(32).toString("hex");
  const env: Record<string, string> = {};
  for (const name of KEPT_ENV) if (process.env[name] !== undefined) env[name] = process.env[name] as string;
  Object.assign(env, {
    // Node 24 from node_modules first, as npm scripts have it (hardhat needs it).
    PATH: `${ROOT}node_modules/.bin:${env.PATH ?? ""}`,
    DATA_DIR: dataDir,
    DEV_DEPLOYMENT_ID: deploymentId,
    PORT: String(port),
    DEV_CHAIN_PORT: String(await freePort()),
    DEV_CALLBACK_PORT: String(await freePort()),
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: "warn",
    ...options.env,
  });
  const child: ChildProcess = spawn(`${ROOT}node_modules/.bin/node`, ["scripts/dev.ts"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: if it does not stop by itself, the group (its hardhat node too) is ended.
    detached: true,
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const cleanup = () => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(join(ROOT, "ignition", "deployments", deploymentId), { recursive: true, force: true });
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
      }, 20_000);
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  };

  const stackFile = join(dataDir, DEV_STACK_FILE);
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  while (!existsSync(stackFile)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const why = child.exitCode !== null ? `exited with code ${child.exitCode}` : "did not come up in time";
      await stop();
      throw new Error(`the dev stack ${why}:\n${output.slice(-4_000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // Written atomically (renamed into place) once everything is up.
  const stack = JSON.parse(readFileSync(stackFile, "utf8")) as DevStack;
  return {
    stack,
    apiUrl: stack.api.url,
    rpcUrl: stack.chain.rpcUrl,
    chainId: stack.chain.chainId,
    adminToken,
    dataDir,
    deploymentId,
    output: () => output,
    stop,
  };
}
