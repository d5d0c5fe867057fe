/**
 * The stream's orders: made through the API (orders under $5, no key), then paid to the contract
 * or by a plain transfer to their deposit address, in full, in part, over, late, or refunded.
 */
import type { Hex } from "viem";
import { ETH, erc20, forwarderAbi, processorAbi } from "../abi.ts";
import { count, type SoakChain, type SoakContext, type StreamOrder } from "../context.ts";
import { now, sleep } from "../util.ts";
import { nextReceiver, postToAnyApi, smallAmount } from "./api.ts";

/** Makes an order on the chain, calling back to the receiver whose turn it is. */
async function postOrder(
  ctx: SoakContext,
  chain: SoakChain,
  token: "ETH" | "USDC",
): Promise<StreamOrder | undefined> {
  const amount = smallAmount(ctx);
  const receiver = nextReceiver(ctx);
  const o = await postToAnyApi<{ id: number; reference: Hex; address: `0x${string}` }>(
    ctx,
    "/order",
    {
      amount,
      address: ctx.merchantAddress,
      callback: receiver.url,
      chain: chain.name,
      ...(token === "USDC" ? { token: "USDC" } : {}),
    },
    "order",
  );
  if (!o) return undefined;
  const row = await ctx.db.query<{ expected_amount: string }>(
    "SELECT expected_amount FROM orders WHERE id = $1",
    [o.id],
  );
  const order: StreamOrder = {
    id: o.id,
    chain,
    reference: o.reference,
    address: o.address,
    token,
    expected: BigInt(row.rows[0]?.expected_amount ?? "0"),
    createdAt: now(),
    paid: false,
  };
  ctx.orders.push(order);
  return order;
}

/** A plain transfer from a random customer: ETH, or a USDC `transfer` (what an exchange sends). */
export async function transferTo(
  ctx: SoakContext,
  chain: SoakChain,
  token: "ETH" | "USDC",
  to: `0x${string}`,
  amount: bigint,
) {
  const from = ctx.pick(chain.customers);
  if (token === "ETH")
    await chain.node.wallet.sendTransaction({ to, value: amount, account: from, chain: null });
  else
    await chain.node.wallet.writeContract({
      address: chain.usdc,
      abi: erc20,
      functionName: "transfer",
      args: [to, amount],
      account: from,
      chain: null,
    });
}

/** `pay` (ETH) or `payToken` (USDC) to the contract, from a random customer. */
async function payContract(ctx: SoakContext, o: StreamOrder, amount: bigint) {
  const from = ctx.pick(o.chain.customers);
  if (o.token === "ETH")
    await o.chain.node.wallet.writeContract({
      address: o.chain.node.contract,
      abi: processorAbi,
      functionName: "pay",
      args: [ctx.merchantAddress, o.reference],
      value: amount,
      account: from,
      chain: null,
    });
  else
    await o.chain.node.wallet.writeContract({
      address: o.chain.node.contract,
      abi: processorAbi,
      functionName: "payToken",
      args: [o.chain.usdc, amount, ctx.merchantAddress, o.reference],
      account: from,
      chain: null,
    });
}

const payDeposit = (ctx: SoakContext, o: StreamOrder, amount: bigint) =>
  transferTo(ctx, o.chain, o.token, o.address, amount);

/**
 * A new order paid to the contract or its deposit address: in full ("contract", "token" in USDC),
 * half ("partial", half of them topped up a little later) or 150% ("over").
 */
export async function payNewOrder(
  ctx: SoakContext,
  chain: SoakChain,
  action: "contract" | "token" | "partial" | "over",
): Promise<void> {
  const o = await postOrder(
    ctx,
    chain,
    action === "token" || (action !== "contract" && ctx.random() < 0.3) ? "USDC" : "ETH",
  );
  if (!o) return;
  const amount =
    action === "partial" ? o.expected / 2n : action === "over" ? (o.expected * 3n) / 2n : o.expected;
  if (ctx.random() < 0.5 || action === "token") await payContract(ctx, o, amount);
  else await payDeposit(ctx, o, amount);
  o.paid = action !== "partial";
  count(ctx, action);
  // Half of the partial payments are topped up a little later.
  if (action === "partial" && ctx.random() < 0.5) {
    await sleep(ctx.between(200, 2_000));
    await payContract(ctx, o, o.expected - amount);
    o.paid = true;
    count(ctx, "top-up");
  }
}

/** A new order paid in full by a plain transfer to its deposit address (ETH, or USDC). */
export async function payNewDeposit(
  ctx: SoakContext,
  chain: SoakChain,
  action: "deposit" | "tokenDeposit",
): Promise<void> {
  const o = await postOrder(ctx, chain, action === "tokenDeposit" ? "USDC" : "ETH");
  if (!o) return;
  await payDeposit(ctx, o, o.expected);
  o.paid = true;
  count(ctx, action);
}

/**
 * A new ETH order paid in full by a contract wallet: EthForwarder passes the ETH on to the deposit
 * address inside its own call (an internal transfer, with no transaction to the address).
 */
export async function payNewInternalDeposit(ctx: SoakContext, chain: SoakChain): Promise<void> {
  const o = await postOrder(ctx, chain, "ETH");
  if (!o) return;
  await chain.node.wallet.writeContract({
    address: chain.forwarder,
    abi: forwarderAbi,
    functionName: "forward",
    args: [o.address],
    value: o.expected,
    account: ctx.pick(chain.customers),
    chain: null,
  });
  o.paid = true;
  count(ctx, "internalDeposit");
}

/** An unpaid order past its 30 s lifetime: the payment arrives late. */
export async function payLate(ctx: SoakContext): Promise<void> {
  const candidates = ctx.orders.filter((o) => !o.paid && now() - o.createdAt > 33_000);
  const o = candidates.length ? ctx.pick(candidates) : undefined;
  if (!o) return;
  o.paid = true;
  if (ctx.random() < 0.5) await payContract(ctx, o, o.expected);
  else await payDeposit(ctx, o, o.expected);
  count(ctx, "late");
}

/** The merchant refunds an ETH order it was paid for, in full or a third. */
export async function refund(ctx: SoakContext): Promise<void> {
  const candidates = ctx.orders.filter((o) => o.paid && o.token === "ETH" && now() - o.createdAt > 3_000);
  const o = candidates.length ? ctx.pick(candidates) : undefined;
  if (!o) return;
  const amount = ctx.random() < 0.5 ? o.expected : o.expected / 3n;
  await o.chain.node.wallet.writeContract({
    address: o.chain.node.contract,
    abi: processorAbi,
    functionName: "refund",
    args: [ETH, o.reference, ctx.pick(o.chain.customers), amount],
    account: ctx.merchantAddress,
    chain: null,
  });
  count(ctx, "refund");
}
