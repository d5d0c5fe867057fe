import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { createPublicClient, createWalletClient, http, toHex, type Hex, type PublicClient } from "viem";
import { ROOT, startLocalChain, type LocalChain } from "../../scripts/lib/local-chain.ts";

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A compiled contract of this project (`npm run build`), by its path under artifacts/contracts/. */
export function artifact(path: string): { abi: unknown[]; bytecode: Hex } {
  return JSON.parse(readFileSync(`${ROOT}artifacts/contracts/${path}`, "utf8")) as {
    abi: unknown[];
    bytecode: Hex;
  };
}

/**
 * A separate `hardhat node` process (for tests that cross process boundaries: crashes, RPC loss),
 * with the payment contract deployed from the compiled artifact.
 */
export async function startNodeChain(options: { chainId?: number; network?: string } = {}) {
  const port = await freePort();
  const chain: LocalChain = await startLocalChain(port, options);
  const transport = http(chain.url, { retryCount: 0 });
  const client = createPublicClient({ transport, pollingInterval: 50 }) as PublicClient;
  const wallet = createWalletClient({ transport });
  const [owner, customer, merchant, other] = await wallet.getAddresses();
  if (!owner || !customer || !merchant || !other) throw new Error("hardhat node has no dev accounts");
  const { abi, bytecode } = artifact("payments/PaymentProcessor.sol/PaymentProcessor.json");
  const hash = await wallet.deployContract({ abi, bytecode, args: [owner], account: owner, chain: null });
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (!receipt.contractAddress) throw new Error("deployment failed");
  const rpc = <T = unknown>(method: string, params: unknown[] = []) =>
    client.request({ method: method as never, params: params as never }) as Promise<T>;
  return {
    ...chain,
    port,
    client,
    wallet,
    owner,
    customer,
    merchant,
    other,
    contract: receipt.contractAddress,
    abi,
    rpc,
    /** Deploys a compiled contract (path under artifacts/contracts/) from the owner; its address. */
    deploy: async (path: string, args: readonly unknown[] = []): Promise<`0x${string}`> => {
      const { abi, bytecode } = artifact(path);
      const hash = await wallet.deployContract({ abi, bytecode, args, account: owner, chain: null });
      const { contractAddress } = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      if (!contractAddress) throw new Error(`deployment of ${path} failed`);
      return contractAddress;
    },
    /** Mines real, linked blocks (`hardhat_mine` would create placeholders with a zero parentHash). */
    mine: async (blocks: number) => {
      for (let i = 0; i < blocks; i++) await rpc("evm_mine");
    },
    snapshot: () => rpc<string>("evm_snapshot"),
    revert: async (id: string) => {
      if (!(await rpc<boolean>("evm_revert", [id]))) throw new Error(`evm_revert ${id} failed`);
    },
  };
}

/** A TCP proxy in front of the node: taking it down is a real connection loss for the client. */
export async function startProxy(target: number) {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, "127.0.0.1", resolve);
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server) return resolve();
      server.close(() => resolve());
    });
  await up();
  return { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}`, up, down };
}

/**
 * An HTTP JSON-RPC proxy in front of the node that answers chosen methods with an HTTP error (a 500,
 * a 429, …) instead of forwarding them, as a failing load balancer or a rate-limiting provider does.
 * `fail` is read at each request: set it to fail methods, to undefined to pass everything through.
 */
export async function startRpcFaultProxy(target: string) {
  const port = await freePort();
  const state: {
    fail: ((method: string) => number | undefined) | undefined;
    failed: string[];
    /** The methods of each HTTP request received, in order (a JSON-RPC batch is one request). */
    requests: string[][];
  } = {
    fail: undefined,
    failed: [],
    requests: [],
  };
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const calls = [JSON.parse(body) as { method: string } | { method: string }[]].flat();
      state.requests.push(calls.map((c) => c.method));
      const status = calls.map((c) => state.fail?.(c.method)).find((s) => s !== undefined);
      if (status !== undefined) {
        state.failed.push(...calls.map((c) => c.method));
        res.writeHead(status, { "content-type": "text/plain" }).end("upstream unavailable");
        return;
      }
      fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body })
        .then(async (upstream) => {
          res.writeHead(upstream.status, { "content-type": "application/json" }).end(await upstream.text());
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type NodeChain = Awaited<ReturnType<typeof startNodeChain>>;

/** The Chainlink-style mock feed (answers, timestamps and description settable by anyone). */
export const FEED = "mocks/MockV3Aggregator.sol/MockV3Aggregator.json";
export const feedAbi = artifact(FEED).abi;

/**
 * Puts a compiled mock at `at`, as a public chain has the real contract there: deploys it normally,
 * copies its runtime code (immutables, such as a feed's decimals, are part of it) with
 * hardhat_setCode and its first storage slots (a token's name and symbol) with hardhat_setStorageAt.
 */
export async function placeAt(
  node: NodeChain,
  path: string,
  at: `0x${string}`,
  args: readonly unknown[] = [],
) {
  const deployed = await node.deploy(path, args);
  await node.rpc("hardhat_setCode", [at, await node.client.getCode({ address: deployed })]);
  for (let i = 0; i < 8; i++) {
    const slot = toHex(i, { size: 32 });
    const value = await node.client.getStorageAt({ address: deployed, slot });
    if (value !== undefined && BigInt(value) !== 0n)
      await node.rpc("hardhat_setStorageAt", [at, slot, value]);
  }
}

/** Sends one call to a mock from the owner and waits for it. */
export async function writeMock(
  node: NodeChain,
  address: `0x${string}`,
  functionName: string,
  args: readonly unknown[],
) {
  const hash = await node.wallet.writeContract({
    address,
    abi: feedAbi,
    functionName,
    args,
    account: node.owner,
    chain: null,
  } as never);
  await node.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
}

/** A Chainlink-like feed at `at` answering `answer` now, with `description`. */
export async function placeFeed(
  node: NodeChain,
  at: `0x${string}`,
  description: string,
  answer = 3000_00000000n,
) {
  await placeAt(node, FEED, at, [8, answer]);
  await setDescription(node, at, description);
  await writeMock(node, at, "updateAnswer", [answer]);
}

export function setDescription(node: NodeChain, at: `0x${string}`, description: string) {
  return writeMock(node, at, "setDescription", [description]);
}

/**
 * An HTTP JSON-RPC proxy in front of a `hardhat node` that also answers geth's
 * `debug_traceBlockByHash` with the `callTracer` (`[{ txHash, result }]`, one call frame tree per
 * transaction), which Hardhat does not offer, from Hardhat's own `debug_traceTransaction` of each
 * transaction of the block. Every other method is forwarded as it is. With `stateOverrides: false`
 * it stands for a node without eth_call state overrides: an eth_call with a third parameter gets
 * geth's answer to one (-32602 "too many arguments, want at most 2").
 */
export async function startTraceProxy(target: string, options: { stateOverrides?: boolean } = {}) {
  const port = await freePort();
  type Call = { jsonrpc: "2.0"; id: unknown; method: string; params?: unknown[] };
  const upstream = async (method: string, params: unknown[]) => {
    const res = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    return (await res.json()) as { result?: unknown; error?: unknown };
  };
  const answer = async (call: Call) => {
    if (options.stateOverrides === false && call.method === "eth_call" && (call.params?.length ?? 0) > 2)
      return {
        jsonrpc: "2.0",
        id: call.id,
        error: { code: -32602, message: "too many arguments, want at most 2" },
      };
    if (call.method !== "debug_traceBlockByHash") {
      const out = await upstream(call.method, call.params ?? []);
      return { jsonrpc: "2.0", id: call.id, ...out };
    }
    const [hash, config] = call.params ?? [];
    const block = await upstream("eth_getBlockByHash", [hash, false]);
    const txs = (block.result as { transactions: string[] } | null)?.transactions;
    if (!txs)
      return {
        jsonrpc: "2.0",
        id: call.id,
        error: { code: -32000, message: `block ${String(hash)} not found` },
      };
    const traces = await Promise.all(
      txs.map(async (txHash) => ({
        txHash,
        result: (await upstream("debug_traceTransaction", [txHash, config])).result,
      })),
    );
    return { jsonrpc: "2.0", id: call.id, result: traces };
  };
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Call | Call[];
      (Array.isArray(body) ? Promise.all(body.map(answer)) : answer(body))
        .then((out) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out)))
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
