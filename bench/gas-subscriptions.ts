// Gas benchmark of token subscriptions (issue #14), run by `npm run bench:gas` (after bench/gas.ts and
// bench/gas-deposits.ts) or alone with `npm run build && hardhat run bench/gas-subscriptions.ts`. Prints a
// table and writes bench/results/gas-subscriptions.json as
// `[{ scenario, gasUsed, reference?, referenceName? }]`.
//
// Every figure is a receipt's gasUsed on Hardhat's in-process network, deterministic: fixed amounts and
// references, Hardhat's default accounts, and the clock moved to fixed offsets from the subscription's start
// (the timestamps' values never change a storage write from zero to nonzero or the calldata size).
// References, measured in the same run:
// - contracts/mocks/MinimalSubscriptions.sol: the same packed terms, due check, paid-through update and
//   Collected event, with one bare transferFrom into itself and a mapping add (no processor hop, no cancel flag,
//   no guard, no return-value check);
// - PaymentProcessor.payToken by the customer directly (what a one-off payment of the same amount costs).
// Conventions: 25 USDC per 30-day period; the merchant was credited in USDC before (the processor's sentinel
// keeps its slot nonzero) and the processor already holds USDC; the collect is sent by a keeper that is
// neither customer nor merchant. "unlimited approval" means the customer approved type(uint256).max (the token
// then never writes the allowance); "capped approval" means a finite allowance, written down on every collect.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { network } from "hardhat";
import type { ContractTransactionResponse } from "ethers";

type GasRow = { scenario: string; gasUsed: number; reference?: number; referenceName?: string };

const AMOUNT = 25_000_000n;
const MONTH = 30n * 24n * 3600n;
const REF = "0x" + 4_242_424_242n.toString(16).padStart(64, "0");

const { ethers, networkHelpers } = await network.create();
const [owner, customer, merchant, keeper, capped] = await ethers.getSigners();
if (!owner || !customer || !merchant || !keeper || !capped) throw new Error("need 5 accounts");

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await tx).wait();
  if (receipt === null || receipt.status !== 1) throw new Error("transaction failed");
  return Number(receipt.gasUsed);
}

const processor = await ethers.deployContract("PaymentProcessor", [owner.address]);
const subs = await ethers.deployContract("Subscriptions", [await processor.getAddress()]);
const reference = await ethers.deployContract("MinimalSubscriptions");
const usdc = await ethers.deployContract("MockStablecoin");
await (await processor.setTokenAllowed(usdc, true)).wait();
for (const account of [customer, capped]) {
  await (await usdc.mint(account, 1_000_000n * 10n ** 6n)).wait();
}
await (await usdc.connect(customer).approve(subs, ethers.MaxUint256)).wait();
await (await usdc.connect(customer).approve(reference, ethers.MaxUint256)).wait();
await (await usdc.connect(customer).approve(processor, ethers.MaxUint256)).wait();
await (await usdc.connect(capped).approve(subs, 1_000n * AMOUNT)).wait();
// The merchant already holds a USDC balance in the processor and in the reference; the reference holds USDC.
await (await processor.connect(customer).payToken(usdc, 1n, merchant, REF)).wait();
await (await reference.connect(customer).subscribe(merchant, usdc, 1n, 1n)).wait();
await (await reference.collect(1n)).wait();

const rows: GasRow[] = [];

// ---- subscribe -------------------------------------------------------------------------------------------
const subscribeFirst = await gasOf(subs.connect(customer).subscribe(merchant, usdc, AMOUNT, MONTH, 0n, REF));
rows.push({ scenario: "subscribe-first-in-token (approves the processor once)", gasUsed: subscribeFirst });
const subscribeRepeat = await gasOf(subs.connect(capped).subscribe(merchant, usdc, AMOUNT, MONTH, 0n, REF));
rows.push({
  scenario: "subscribe",
  gasUsed: subscribeRepeat,
  reference: await gasOf(reference.connect(customer).subscribe(merchant, usdc, AMOUNT, MONTH)),
  referenceName: "MinimalSubscriptions.subscribe",
});
const [unlimitedId, cappedId, refId] = [1n, 2n, 2n];

// ---- collect one period ------------------------------------------------------------------------------------
const directPay = await gasOf(processor.connect(customer).payToken(usdc, AMOUNT, merchant, REF));
const refFirst = await gasOf(reference.connect(keeper).collect(refId));
rows.push({
  scenario: "collect-period-0 (unlimited approval)",
  gasUsed: await gasOf(subs.connect(keeper).collect(unlimitedId)),
  reference: refFirst,
  referenceName: "MinimalSubscriptions.collect",
});
rows.push({
  scenario: "collect-period-0 (capped approval)",
  gasUsed: await gasOf(subs.connect(keeper).collect(cappedId)),
  reference: refFirst,
  referenceName: "MinimalSubscriptions.collect",
});
const start = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
await networkHelpers.time.increaseTo(start + MONTH);
const refRepeat = await gasOf(reference.connect(keeper).collect(refId));
rows.push({
  scenario: "collect-period-1 (unlimited approval)",
  gasUsed: await gasOf(subs.connect(keeper).collect(unlimitedId)),
  reference: refRepeat,
  referenceName: "MinimalSubscriptions.collect",
});
rows.push({
  scenario: "collect-period-1 (capped approval)",
  gasUsed: await gasOf(subs.connect(keeper).collect(cappedId)),
  reference: refRepeat,
  referenceName: "MinimalSubscriptions.collect",
});
rows.push({
  scenario: "collect-period-1 (unlimited approval) vs a direct payment",
  gasUsed: rows.at(-2)!.gasUsed,
  reference: directPay,
  referenceName: "PaymentProcessor.payToken by the customer",
});

// ---- subscribe with permit, cancel -------------------------------------------------------------------------
// A fixed key: the signature's bytes (zero bytes cost less calldata) are then the same on every run.
const permitter = new ethers.Wallet(ethers.id("bench-subscriptions-permit"), ethers.provider);
await (await owner.sendTransaction({ to: permitter.address, value: ethers.parseEther("1") })).wait();
await (await usdc.mint(permitter.address, 1_000n * AMOUNT)).wait();
const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
const { chainId } = await ethers.provider.getNetwork();
const signature = ethers.Signature.from(
  await permitter.signTypedData(
    { name: await usdc.name(), version: "1", chainId, verifyingContract: await usdc.getAddress() },
    {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    { owner: permitter.address, spender: await subs.getAddress(), value: 12n * AMOUNT, nonce: 0n, deadline },
  ),
);
rows.push({
  scenario: "subscribeWithPermit (customer's first permit: nonce 0->1)",
  gasUsed: await gasOf(
    subs
      .connect(permitter)
      .subscribeWithPermit(
        merchant,
        usdc,
        AMOUNT,
        MONTH,
        0n,
        REF,
        12n * AMOUNT,
        deadline,
        signature.v,
        signature.r,
        signature.s,
      ),
  ),
});
rows.push({
  scenario: "cancel (by the customer)",
  gasUsed: await gasOf(subs.connect(customer).cancel(unlimitedId)),
});

const fmt = (n: number | undefined) => (n === undefined ? "" : n.toLocaleString("en-US"));
console.table(
  rows.map((r) => ({
    scenario: r.scenario,
    gasUsed: fmt(r.gasUsed),
    reference: r.reference === undefined ? "" : `${fmt(r.reference)} (${r.referenceName})`,
    overhead: r.reference === undefined ? "" : fmt(r.gasUsed - r.reference),
  })),
);
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), "results", "gas-subscriptions.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(rows, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
