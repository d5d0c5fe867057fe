/**
 * `npm run demo`, against a running `npm start`: creates an order, pays it from a dev account,
 * mines the confirmations, and prints the status timeline and the callback bodies received by a
 * local receiver. Override the endpoints with DEMO_API_URL and DEMO_RPC_URL.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createWalletClient,
  createPublicClient,
  http,
  parseAbi,
  parseEther,
  pad,
  toHex,
  type Hex,
} from "viem";

const API = process.env.DEMO_API_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const RPC = process.env.DEMO_RPC_URL ?? process.env.RPC_URL ?? "http://127.0.0.1:8545";
const abi = parseAbi(["function pay(address merchant, bytes32 orderId) payable"]);
const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(2)}s`.padStart(8);
const say = (message: string) => console.log(`${stamp()}  ${message}`);

async function main() {
  const health = await fetch(`${API}/health`)
    .then((r) => r.json() as Promise<{ chain: { confirmations: number; chain_id: number } }>)
    .catch(() => {
      throw new Error(`no server at ${API}: start it first with \`npm start\` (or set DEMO_API_URL)`);
    });
  const confirmations = health.chain.confirmations;

  const callbacks: { at: string; body: string; headers: Record<string, unknown> }[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      callbacks.push({ at: stamp(), body, headers: req.headers });
      say(
        `callback received: ${JSON.parse(body).status ?? "?"} (event ${req.headers["x-ethpos-event-id"] ?? "?"})`,
      );
      res.end("OK");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/callback`;

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
      callback: callbackUrl,
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
    address: order.address as Hex,
    abi,
    functionName: "pay",
    args: [merchant, pad(toHex(BigInt(order.id as number)), { size: 32 })],
    value: wei,
    chain: null,
  });
  say(`customer ${customer} paid: tx ${hash}`);

  let last = String(order.status);
  let mined = 0;
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
    if (current.status === "success" && current.confirmations > mined && mined < confirmations) {
      await publicClient.request({ method: "evm_mine" as never, params: [] as never });
      mined = current.confirmations;
      say(`mined a block (${current.confirmations + 1}/${confirmations} confirmations)`);
    }
    if (Date.now() - t0 > 120_000) throw new Error(`timed out; last status ${last}`);
  }
  const deadline = Date.now() + 30_000;
  while (callbacks.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  console.log("\nStatus timeline: pending → success → complete");
  console.log(`Callbacks received (${callbacks.length}):`);
  for (const cb of callbacks) {
    console.log(`${cb.at}  signature: ${cb.headers["x-ethpos-signature"] ?? "(none)"}`);
    console.log(JSON.stringify(JSON.parse(cb.body), null, 2));
  }
  receiver.close();
  if (callbacks.length < 2) throw new Error("expected a success and a complete callback");
}

main().catch((error: Error) => {
  console.error(`demo: ${error.message}`);
  process.exit(1);
});
