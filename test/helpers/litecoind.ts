import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRpcClient, RpcError, type RpcClient } from "../../server/src/utxo/rpc.ts";

/**
 * A real `litecoind -regtest` for one test file: loopback only, a temporary data directory and
 * random free ports, torn down by `stop()`. CI installs Debian's litecoind (`apt-get install -y
 * litecoind`); a missing binary is a hard failure, never a skipped test.
 */
export interface Litecoind {
  /** RPC URL with credentials; `wallet` selects `/wallet/<name>`. */
  rpcUrl(wallet?: string): string;
  /** RPC on the node root (chain calls). */
  node: RpcClient;
  /** RPC on the funded "miner" wallet. */
  miner: RpcClient;
  /** A fresh address of the miner wallet. */
  minerAddress: string;
  /** Mines `n` blocks to the miner wallet, waits until wallets have processed them, returns the hashes. */
  mine(n: number): Promise<string[]>;
  /** Waits until every wallet has processed pending chain and mempool notifications. */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

const BINARY = process.env.LITECOIND ?? "litecoind";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startLitecoind(): Promise<Litecoind> {
  const datadir = mkdtempSync(join(tmpdir(), "ethpos-ltc-"));
  const rpcPort = await freePort();
  const p2pPort = await freePort();
  const user = "ethpos";
  const password = randomBytes(12).toString("hex");
  const args = [
    "-regtest",
    `-datadir=${datadir}`,
    "-server=1",
    "-rpcbind=127.0.0.1",
    "-rpcallowip=127.0.0.1",
    `-rpcport=${rpcPort}`,
    `-port=${p2pPort}`,
    `-rpcuser=${user}`,
    `-rpcpassword=${password}`,
    "-listen=0",
    "-dnsseed=0",
    "-connect=0",
    "-fallbackfee=0.0002",
    "-txindex=1",
    "-walletrbf=1",
    "-mempoolreplacement=1",
    "-printtoconsole=0",
    "-rpcthreads=8",
    "-rpcworkqueue=64",
    "-keypool=20",
  ];
  const child: ChildProcess = spawn(BINARY, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const spawnError = new Promise<never>((_, reject) => {
    child.once("error", (error) =>
      reject(
        new Error(`cannot start ${BINARY} (${error.message}); install it with: apt-get install -y litecoind`),
      ),
    );
    child.once("exit", (code) => reject(new Error(`${BINARY} exited with code ${code}: ${stderr.trim()}`)));
  });
  spawnError.catch(() => {});

  const base = `http://${user}:${password}@127.0.0.1:${rpcPort}`;
  const rpcUrl = (wallet?: string) => (wallet ? `${base}/wallet/${encodeURIComponent(wallet)}` : `${base}/`);
  const node = createRpcClient(rpcUrl(), { timeoutMs: 60_000 });

  // Whatever fails from here on must not leave a node running or a data directory behind.
  const abort = async (error: unknown): Promise<never> => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(datadir, { recursive: true, force: true });
    throw error;
  };

  const miner = createRpcClient(rpcUrl("miner"), { timeoutMs: 60_000 });
  let minerAddress = "";
  // Wallets learn about blocks and mempool transactions asynchronously; this hidden test RPC
  // waits for that queue, so a poll right after sees exactly the new state.
  const sync = async () => {
    await node.call("syncwithvalidationinterfacequeue");
  };
  const mine = async (n: number) => {
    const hashes = await node.call<string[]>("generatetoaddress", [n, minerAddress]);
    await sync();
    return hashes;
  };

  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await Promise.race([node.call("getblockchaininfo"), spawnError]);
        break;
      } catch (error) {
        if (child.exitCode !== null || (error as Error).message.startsWith("cannot start")) throw error;
        if (Date.now() > deadline)
          throw new Error(`litecoind RPC did not come up: ${(error as Error).message}`);
        // -28 (warming up) or connection refused while it starts.
        if (error instanceof RpcError && error.code !== -28) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await node.call("createwallet", ["miner"]);
    minerAddress = await miner.call<string>("getnewaddress", ["", "legacy"]);
    await mine(101); // coinbase maturity: the first reward becomes spendable
  } catch (error) {
    return abort(error);
  }

  return {
    rpcUrl,
    node,
    miner,
    minerAddress,
    mine,
    sync,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        await node.call("stop").catch(() => child.kill("SIGTERM"));
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(datadir, { recursive: true, force: true });
    },
  };
}
