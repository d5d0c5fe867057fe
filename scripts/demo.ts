/**
 * `npm run demo`, against a running `npm start`: creates an order, pays it from a dev account,
 * waits for the confirmations (the local chain mines a block every second; with
 * DEV_BLOCK_INTERVAL_MS=0 the demo mines them itself), and prints the status timeline and the
 * callback bodies.
 *
 * The order's callbacks go to npm start's dev callback receiver (DEV_CALLBACK_PORT, recorded in
 * .data/dev-stack.json), which outlives the demo: an interrupted demo leaves no order retrying a
 * dead port for days. The demo reads the bodies back from that receiver. Only without one (e.g.
 * DEV_CALLBACK_PORT=0, or DEMO_API_URL) does it listen for them itself.
 *
 * The API and chain URLs come from .data/dev-stack.json, which `npm start` writes, so the ports
 * it was given (PORT, DEV_CHAIN_PORT) are followed. DEMO_API_URL and DEMO_RPC_URL override them
 * (e.g. for a server started with `npm run serve`).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { runningDevStack } from "./lib/dev-stack.ts";
import { createWalletClient, createPublicClient, http, parseAbi, parseEther, type Hex } from "viem";

const stack = runningDevStack((message) => console.warn(`demo: ${message}`));
const API = process.env.DEMO_API_URL ?? stack?.api.url ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const RPC = process.env.DEMO_RPC_URL ?? stack?.chain.rpcUrl ?? process.env.RPC_URL ?? "http://127.0.0.1:8545";
/** Mine the confirmations ourselves only on a local chain that mines no blocks on its own. */
const MINE = !process.env.DEMO_RPC_URL && stack?.chain.blockIntervalMs === 0;
const abi = parseAbi(["function pay(address merchant, bytes32 orderId) payable"]);
const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(2)}s`.padStart(8);
const say = (message: string) => console.log(`${stamp()}  ${message}`);

async function main() {
  // The details (the chain's confirmations) need the admin token that npm start generated.
  const adminToken = process.env.ADMIN_TOKEN ?? stack?.adminToken;
  const health = await fetch(`${API}/health`, {
    headers: adminToken ? { authorization: `Bearer ${adminToken}` } : {},
  })
    .then((r) => r.json() as Promise<{ chain: { confirmations: number; chain_id: number } }>)
    .catch(() => {
      throw new Error(
        stack
          ? `npm start (pid ${stack.pid}) recorded its API at ${API}, but it does not answer`
          : `no server at ${API}: start it first with \`npm start\` (or set DEMO_API_URL)`,
      );
    });
  const confirmations = health.chain.confirmations;

  const callbacks = await callbackTarget();

  const publicClient = createPublicClient({ transport: http(RPC) });
  const [customer, merchant] = await createWalletClient({ transport: http(RPC) }).getAddresses();
  if (!customer || !merchant) throw new Error(`the chain at ${RPC} has no unlocked dev accounts`);
  const wallet = createWalletClient({ account: customer, transport: http(RPC) });

  say(`creating a $1.00 order for merchant ${merchant}`);
  const res = await fetch(`${API}/order`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      amount: "1.00",
      address: merchant,
      callback: callbacks.url,
      item_title: "Demo coffee",
    }),
  });
  const order = (await res.json()) as Record<string, string | number | boolean>;
  if (!res.ok) throw new Error(`POST /order failed: ${JSON.stringify(order)}`);
  console.log(JSON.stringify(order, null, 2));
  say(
    `order ${order.id}: ${order.status}; pay ${order.expected_amount} ETH at ${order.eth_price} USD/ETH (page: ${order.payment_url})`,
  );

  const wei = parseEther(String(order.expected_amount));
  const hash = await wallet.writeContract({
    address: order.pay_to as Hex,
    abi,
    functionName: "pay",
    args: [merchant, order.reference as Hex],
    value: wei,
    chain: null,
  });
  say(`customer ${customer} paid: tx ${hash}`);

  let last = String(order.status);
  let seen = 0;
  let mine = MINE;
  let grewAt = Date.now();
  while (last !== "complete") {
    await new Promise((r) => setTimeout(r, 300));
    const current = (await fetch(`${API}/order/${order.id}`).then((r) => r.json())) as {
      status: string;
      confirmations: number;
    };
    if (current.status !== last) {
      say(`status ${last} → ${current.status} (${current.confirmations} confirmations)`);
      last = current.status;
    }
    if (current.status !== "success") continue;
    if (current.confirmations > seen) {
      if (!mine) say(`${current.confirmations}/${confirmations} confirmations`);
      seen = current.confirmations;
      grewAt = Date.now();
    } else if (!mine && Date.now() - grewAt > 5_000) {
      // No new block for 5 s: a chain that only mines per transaction (hardhat node's default).
      say("the chain mines no blocks on its own: the demo mines the confirmations (evm_mine)");
      mine = true;
    }
    if (mine && seen < confirmations) {
      await publicClient.request({ method: "evm_mine" as never, params: [] as never });
      say(`mined a block (${seen + 1}/${confirmations} confirmations)`);
      seen += 1;
    }
    if (Date.now() - t0 > 120_000) throw new Error(`timed out; last status ${last}`);
  }
  const deadline = Date.now() + 30_000;
  let received = await callbacks.received(Number(order.id));
  while (received.length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    received = await callbacks.received(Number(order.id));
  }
  callbacks.close();
  console.log("\nStatus timeline: pending → success → complete");
  console.log(`Callbacks received at ${callbacks.url} (${received.length}):`);
  for (const cb of received) {
    console.log(`${cb.at}  signature: ${cb.signature ?? "(none)"}`);
    console.log(JSON.stringify(JSON.parse(cb.body), null, 2));
  }
  if (received.length < 2) throw new Error("expected a success and a complete callback");
}

interface DemoCallback {
  at: string;
  signature: string | undefined;
  body: string;
}

/**
 * Where the order's callbacks go, and how the demo reads them: npm start's dev receiver when it
 * runs one (it keeps them, and retries to it succeed after the demo is gone), else a receiver of
 * the demo's own for as long as it runs.
 */
async function callbackTarget(): Promise<{
  url: string;
  received(order: number): Promise<DemoCallback[]>;
  close(): void;
}> {
  const dev = process.env.DEMO_API_URL ? undefined : stack?.callbackReceiver;
  if (dev) {
    say(`callbacks go to npm start's dev receiver ${dev.url} (printed in its terminal too)`);
    return {
      url: dev.url,
      async received(order) {
        const res = await fetch(`${dev.url}?order=${order}`);
        const { callbacks } = (await res.json()) as {
          callbacks: { received_at: string; signature: string | null; body: string }[];
        };
        return callbacks.map((c) => ({
          at: `+${((Date.parse(c.received_at) - t0) / 1000).toFixed(2)}s`.padStart(8),
          signature: c.signature ?? undefined,
          body: c.body,
        }));
      },
      close() {},
    };
  }
  const got: DemoCallback[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const signature = req.headers["x-ethpos-signature"];
      got.push({ at: stamp(), body, signature: typeof signature === "string" ? signature : undefined });
      say(
        `callback received: ${JSON.parse(body).status ?? "?"} (event ${req.headers["x-ethpos-event-id"] ?? "?"})`,
      );
      res.end("OK");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/callback`;
  say(`no dev callback receiver: the demo listens at ${url} while it runs`);
  return { url, received: async () => got, close: () => receiver.close() };
}

main().catch((error: Error) => {
  console.error(`demo: ${error.message}`);
  process.exit(1);
});
