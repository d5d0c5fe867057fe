import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createPublicClient, http } from "viem";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HARDHAT = `${ROOT}node_modules/.bin/hardhat`;
/**
 * Where `deployLocal` leaves the dev stack's deployment (Ignition's own id for chain 31337). A
 * server reads it only when IGNITION_DEPLOYMENT_DIR names it, as `npm start` does: tests on their
 * own chain 31337 never see it.
 */
export const LOCAL_DEPLOYMENT_DIR = `${ROOT}ignition/deployments/chain-31337`;

/** The directory of a local deployment: Ignition's default, or the one named by `deploymentId`. */
export const localDeploymentDir = (deploymentId?: string): string =>
  deploymentId ? `${ROOT}ignition/deployments/${deploymentId}` : LOCAL_DEPLOYMENT_DIR;

export interface LocalChain {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

async function waitForRpc(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const client = createPublicClient({ transport: http(url, { retryCount: 0, timeout: 2_000 }) });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hardhat node exited with code ${child.exitCode}`);
    try {
      await client.getChainId();
      return;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`hardhat node did not answer at ${url} within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Starts `hardhat node` on loopback and waits until it answers JSON-RPC; `network` names a simulated
 * network of hardhat.config.ts to serve (e.g. `opLocal`, an OP-stack chain).
 */
export async function startLocalChain(
  port: number,
  options: { quiet?: boolean; chainId?: number; network?: string } = {},
): Promise<LocalChain> {
  const url = `http://127.0.0.1:${port}`;
  const args = ["node", "--hostname", "127.0.0.1", "--port", String(port)];
  if (options.chainId !== undefined) args.push("--chain-id", String(options.chainId));
  // A simulated network of hardhat.config.ts, e.g. `opLocal` (an OP-stack chain with its L1 data fee).
  if (options.network !== undefined) args.push("--network", options.network);
  const child = spawn(HARDHAT, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    if (output.length < 20_000) output += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  try {
    await waitForRpc(url, 60_000, child);
  } catch (error) {
    child.kill("SIGKILL");
    const hint = /EADDRINUSE|address already in use/i.test(output)
      ? ` (port ${port} is in use; stop what holds it or set DEV_CHAIN_PORT)`
      : "";
    throw new Error(`${(error as Error).message}${hint}\n${output.slice(-2_000)}`);
  }
  if (!options.quiet) child.stdout?.off("data", collect);
  return {
    url,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
      }),
  };
}

/**
 * Deploys the contracts with Hardhat Ignition (LocalDev: the payment contract, a mock USDC with
 * permit and a mock ETH/USD feed). A local chain is new on every start, so the previous
 * journal for it is removed first. `deploymentId` records it under
 * `ignition/deployments/<id>/` instead of Ignition's default `chain-31337/` (a second dev stack,
 * e.g. a test's, leaves the developer's deployment alone).
 */
export function deployLocal(networkName = "localhost", deploymentId?: string): void {
  rmSync(localDeploymentDir(deploymentId), { recursive: true, force: true });
  const result = spawnSync(
    HARDHAT,
    [
      "ignition",
      "deploy",
      "ignition/modules/LocalDev.ts",
      "--network",
      networkName,
      ...(deploymentId ? ["--deployment-id", deploymentId] : []),
    ],
    {
      cwd: ROOT,
      encoding: "utf8",
      env: process.env,
    },
  );
  if (result.status !== 0) {
    throw new Error(`ignition deploy failed:\n${result.stdout}\n${result.stderr}`);
  }
}

/**
 * Makes the node mine a block every `intervalMs`, as a real chain does, while automine stays on
 * (a transaction is still mined at once, in a block of its own). Confirmations then grow by
 * themselves: a payment made by hand reaches `complete` without anyone calling `evm_mine`.
 * `0` leaves automine only.
 */
export async function setIntervalMining(url: string, intervalMs: number): Promise<void> {
  const client = createPublicClient({ transport: http(url, { retryCount: 0 }) });
  await client.request({ method: "evm_setIntervalMining" as never, params: [intervalMs] as never });
}
