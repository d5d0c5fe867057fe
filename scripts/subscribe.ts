/**
 * `npm run demo:subscribe`, against a running `npm start`: a dev customer (account #1) subscribes to
 * the dev merchant (account #2) with the mock USDC: it mints itself some, approves the Subscriptions
 * contract for a year of periods, and subscribes for DEMO_AMOUNT (default 9.99) USDC every
 * DEMO_INTERVAL_SECONDS (default 60). The server's collector (the dev sweeper key) then collects each
 * period as it falls due; the script prints `paidThrough(id)` read on chain and the merchant's balance
 * in the PaymentProcessor as they move, for DEMO_PERIODS (default 2) periods. With
 * DEV_BLOCK_INTERVAL_MS=0 (no blocks of its own) it moves the chain clock itself.
 *
 * The addresses come from .data/dev-stack.json, which `npm start` writes.
 */
import { randomBytes } from "node:crypto";
import { createPublicClient, createWalletClient, http, parseAbi, parseUnits, type Hex } from "viem";
import { runningDevStack } from "./lib/dev-stack.ts";

const stack = runningDevStack((message) => console.warn(`subscribe: ${message}`));
if (!stack) throw new Error("no running `npm start` found (.data/dev-stack.json): start it first");
const subscriptions = stack.chain.contracts.subscriptions as Hex | undefined;
const usdc = stack.chain.contracts.tokens.find((t) => t.symbol === "USDC")?.address as Hex | undefined;
if (!subscriptions || !usdc) {
  throw new Error("the running stack has no Subscriptions contract or no USDC (see the npm start banner)");
}
const RPC = stack.chain.rpcUrl;
const amount = parseUnits(process.env.DEMO_AMOUNT ?? "9.99", 6);
const interval = BigInt(process.env.DEMO_INTERVAL_SECONDS ?? "60");
const periods = Number(process.env.DEMO_PERIODS ?? "2");
const MINE = stack.chain.blockIntervalMs === 0;
const tokenAbi = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
]);
const subsAbi = parseAbi([
  "function subscribe(address merchant, address token, uint256 amountPerPeriod, uint64 interval, uint64 start, bytes32 ref) returns (uint256 id)",
  "function paidThrough(uint256 id) view returns (uint64)",
  "function subscriptionCount() view returns (uint256)",
  "event Subscribed(uint256 indexed id, address indexed merchant, bytes32 indexed ref, address customer, address token, uint256 amountPerPeriod, uint64 interval, uint64 start)",
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
      address: usdc!,
      abi: tokenAbi,
      functionName: "approve",
      args: [subscriptions!, 12n * amount],
      chain: null,
    }),
  );
  const ref = `0x${randomBytes(32).toString("hex")}` as Hex;
  await send(
    wallet.writeContract({
      address: subscriptions!,
      abi: subsAbi,
      functionName: "subscribe",
      args: [merchant, usdc!, amount, interval, 0n, ref],
      chain: null,
    }),
  );
  const id = await client.readContract({
    address: subscriptions!,
    abi: subsAbi,
    functionName: "subscriptionCount",
  });
  const start = await client.readContract({
    address: subscriptions!,
    abi: subsAbi,
    functionName: "paidThrough",
    args: [id],
  });
  const before = await balance();
  say(
    `customer ${customer} subscribed (id ${id}, ref ${ref}): ${usd(amount)} USDC every ${interval} s to ${merchant}`,
  );
  say(`paidThrough(${id}) = ${start} (the start: period 0 is due now); waiting for the collector…`);

  let seen = start;
  for (let period = 0; period < periods; period++) {
    if (period > 0) {
      say(`period ${period} is due at ${seen}: ${MINE ? "moving the chain clock" : `waiting ${interval} s`}`);
      if (MINE) {
        await client.request({ method: "evm_increaseTime" as never, params: [Number(interval)] as never });
        await client.request({ method: "evm_mine" as never, params: [] as never });
      }
    }
    const deadline = Date.now() + (Number(interval) + 60) * 1000;
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
      if (MINE) await client.request({ method: "evm_mine" as never, params: [] as never });
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
