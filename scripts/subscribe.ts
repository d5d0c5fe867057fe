/**
 * `npm run demo:subscribe`, against a running `npm start`: recurring token pulls as a merchant and a
 * customer use them. Through the API (with the stack's admin token) a demo merchant on the Seller plan
 * with the Recurring Payments plugin creates a weekly token_pull subscription of DEMO_AMOUNT (default
 * 9.99) USD in the mock USDC, paid to dev account #2; the dev customer (account #1) mints itself some,
 * approves the Subscriptions contract and subscribes with exactly the returned call. The server's
 * collector (the dev sweeper key) collects only subscriptions the server asked for (docs/security.md,
 * R2-2), so this is the way in. The script moves the chain clock to each due date (a week apart) and
 * prints `paidThrough(id)` read on chain and the merchant's balance in the PaymentProcessor as the
 * collector collects DEMO_PERIODS (default 2) periods.
 *
 * The addresses and the admin token come from .data/dev-stack.json, which `npm start` writes.
 */
import { randomBytes } from "node:crypto";
import { createPublicClient, createWalletClient, http, parseAbi, type Hex } from "viem";
import { runningDevStack } from "./lib/dev-stack.ts";

const stack = runningDevStack((message) => console.warn(`subscribe: ${message}`));
if (!stack) throw new Error("no running `npm start` found (.data/dev-stack.json): start it first");
const subscriptions = stack.chain.contracts.subscriptions as Hex | undefined;
const usdc = stack.chain.contracts.tokens.find((t) => t.symbol === "USDC")?.address as Hex | undefined;
if (!subscriptions || !usdc) {
  throw new Error("the running stack has no Subscriptions contract or no USDC (see the npm start banner)");
}
const RPC = stack.chain.rpcUrl;
const API = stack.api.url;
const dollars = process.env.DEMO_AMOUNT ?? "9.99";
const periods = Number(process.env.DEMO_PERIODS ?? "2");
const tokenAbi = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
]);
const subsAbi = parseAbi([
  "function subscribe(address merchant, address token, uint256 amountPerPeriod, uint64 interval, uint64 start, bytes32 ref) returns (uint256 id)",
  "function paidThrough(uint256 id) view returns (uint64)",
  "function subscriptionCount() view returns (uint256)",
]);
const processorAbi = parseAbi(["function balanceOf(address merchant, address token) view returns (uint256)"]);
const t0 = Date.now();
const say = (message: string) =>
  console.log(`${`+${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(8)}  ${message}`);
const usd = (units: bigint) => `${units / 1_000_000n}.${(units % 1_000_000n).toString().padStart(6, "0")}`;

async function main() {
  const client = createPublicClient({ transport: http(RPC) });
  const [, customer, merchant] = await createWalletClient({ transport: http(RPC) }).getAddresses();
  if (!customer || !merchant) throw new Error(`the chain at ${RPC} has no unlocked dev accounts`);
  const wallet = createWalletClient({ account: customer, transport: http(RPC) });
  const send = async (hash: Promise<Hex>) => client.waitForTransactionReceipt({ hash: await hash });
  const balance = () =>
    client.readContract({
      address: stack!.chain.contracts.paymentProcessor as Hex,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [merchant, usdc!],
    });

  // The merchant, through the admin API (a new demo account each run: its API key is shown once).
  const api = async (path: string, auth: string, body: unknown) => {
    const res = await fetch(`${API}${path}`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const admin = `Bearer ${stack!.adminToken}`;
  const email = `demo-subscribe-${randomBytes(4).toString("hex")}@example.com`;
  const { api_key: key } = await api("/admin/merchants", admin, { email, plan: "seller" });
  await api("/admin/merchants/plugins", admin, { email, recurring_payments: true });
  // The start is bound on chain and must not be before the chain's clock (an earlier run moved it).
  const chainNow = Number((await client.getBlock()).timestamp);
  const startS = Math.max(Math.ceil(Date.now() / 1000), chainNow) + 10;
  const created = await api("/recurring", key as string, {
    method: "token_pull",
    token: "USDC",
    amount: dollars,
    interval: "weekly",
    start: new Date(startS * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
    address: merchant,
    // The dev receiver prints the callbacks (npm start runs one unless DEV_CALLBACK_PORT=0).
    callback: stack!.callbackReceiver?.url ?? "https://example.com/demo-subscribe",
    item_title: "demo:subscribe",
  });
  const call = created.token_pull as {
    contract: Hex;
    args: { merchant: Hex; token: Hex; amountPerPeriod: string; interval: string; start: string; ref: Hex };
    approve: { token: Hex; spender: Hex; amount: string };
  };
  const amount = BigInt(call.args.amountPerPeriod);
  const interval = BigInt(call.args.interval);

  // The customer's wallet: exactly the returned calls.
  await send(
    wallet.writeContract({
      address: usdc!,
      abi: tokenAbi,
      functionName: "mint",
      args: [customer, 100n * amount],
      chain: null,
    }),
  );
  await send(
    wallet.writeContract({
      address: call.approve.token,
      abi: tokenAbi,
      functionName: "approve",
      args: [call.approve.spender, BigInt(call.approve.amount)],
      chain: null,
    }),
  );
  const a = call.args;
  await send(
    wallet.writeContract({
      address: call.contract,
      abi: subsAbi,
      functionName: "subscribe",
      args: [a.merchant, a.token, amount, interval, BigInt(a.start), a.ref],
      chain: null,
    }),
  );
  const id = await client.readContract({
    address: subscriptions!,
    abi: subsAbi,
    functionName: "subscriptionCount",
  });
  const start = BigInt(a.start);
  const before = await balance();
  say(
    `customer ${customer} subscribed (id ${id}, API subscription ${created.id}): ${usd(amount)} USDC every ${interval} s to ${merchant}`,
  );
  say(`paidThrough(${id}) = ${start} (the start: period 0 is due then); waiting for the collector…`);

  let seen = start;
  for (let period = 0; period < periods; period++) {
    // The due date on the chain's clock: moved there (a week is too long to wait for).
    const head = (await client.getBlock()).timestamp;
    if (head < seen) {
      if (period > 0) say(`period ${period} is due at ${seen}: moving the chain clock`);
      await client.request({ method: "evm_increaseTime" as never, params: [Number(seen - head)] as never });
      await client.request({ method: "evm_mine" as never, params: [] as never });
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = await client.readContract({
        address: subscriptions!,
        abi: subsAbi,
        functionName: "paidThrough",
        args: [id],
      });
      if (now > seen) {
        seen = now;
        break;
      }
      if (Date.now() > deadline)
        throw new Error(`period ${period} was not collected: does the npm start banner show a collector?`);
      await client.request({ method: "evm_mine" as never, params: [] as never });
      await new Promise((r) => setTimeout(r, 500));
    }
    say(
      `period ${period} collected: paidThrough(${id}) = ${seen}; merchant balance +${usd((await balance()) - before)} USDC`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(`subscribe: ${(error as Error).message}`);
  process.exit(1);
});
