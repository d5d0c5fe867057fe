// Flow and event tests of token subscriptions (ISubscriptions) with ethers v6, typechain types and chai
// matchers, on a fresh in-process Hardhat network per test, deployed with the LocalDev Ignition module. Each
// call is its own transaction and the clock is moved with the network helpers, so these tests cover what a
// Solidity test cannot: three monthly periods over real blocks, a keeper simulating collect() to learn why it
// would fail, and the log pairs (Collected, PaymentReceived) that the server's indexer follows.
import { expect } from "chai";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { Signature, type ContractTransactionReceipt } from "ethers";
import { describe, it } from "mocha";

import type {
  MockStablecoin,
  PaymentProcessor,
  SubscriptionGate,
  Subscriptions,
} from "../../types/ethers-contracts/index.js";
import LocalDevModule from "../../ignition/modules/LocalDev.ts";

const REF = "0x" + 4_242_424_242n.toString(16).padStart(64, "0");
const AMOUNT = 25_000_000n; // 25 USDC
const MONTH = 30n * 24n * 3600n;

async function deploy() {
  const { ethers, ignition, networkHelpers } = await network.create();
  const [, customer, merchant, keeper, stranger] = await ethers.getSigners();
  if (!customer || !merchant || !keeper || !stranger) throw new Error("need 5 accounts");
  const deployed = await ignition.deploy(LocalDevModule);
  const processor = (await ethers.getContractAt(
    "PaymentProcessor",
    await deployed.paymentProcessor.getAddress(),
  )) as unknown as PaymentProcessor;
  const subs = (await ethers.getContractAt(
    "Subscriptions",
    await deployed.subscriptions.getAddress(),
  )) as unknown as Subscriptions;
  const usdc = (await ethers.getContractAt(
    "MockStablecoin",
    await deployed.mockStablecoin.getAddress(),
  )) as unknown as MockStablecoin;
  await (await usdc.mint(customer, 1_000n * 10n ** 6n)).wait();
  return { ethers, networkHelpers, processor, subs, usdc, customer, merchant, keeper, stranger };
}

async function signPermit(
  token: MockStablecoin,
  holder: HardhatEthersSigner,
  spender: string,
  value: bigint,
  deadline: bigint,
): Promise<Signature> {
  const { chainId } = await token.runner!.provider!.getNetwork();
  const signature = await holder.signTypedData(
    { name: await token.name(), version: "1", chainId, verifyingContract: await token.getAddress() },
    {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    { owner: holder.address, spender, value, nonce: await token.nonces(holder.address), deadline },
  );
  return Signature.from(signature);
}

/** Subscribes with an approval of a year of periods; returns the id and the start (the block's timestamp). */
async function subscribeByApproval(ctx: Awaited<ReturnType<typeof deploy>>) {
  const { subs, usdc, customer, merchant } = ctx;
  await (await usdc.connect(customer).approve(subs, 12n * AMOUNT)).wait();
  const tx = await subs.connect(customer).subscribe(merchant, usdc, AMOUNT, MONTH, 0n, REF);
  const receipt = (await tx.wait())!;
  const block = await receipt.getBlock();
  return { id: await subs.subscriptionCount(), start: BigInt(block.timestamp), receipt };
}

/**
 * What the server's indexer reads from a transaction: the logs of Subscriptions and of the processor, in
 * order (the token's own Transfer/Approval logs are left out).
 */
function indexed(receipt: ContractTransactionReceipt, subs: Subscriptions, processor: PaymentProcessor) {
  const ours = [subs, processor].map((c) => c.target.toString().toLowerCase());
  return receipt.logs
    .filter((log) => ours.includes(log.address.toLowerCase()))
    .map((log) => {
      const contract = log.address.toLowerCase() === ours[0] ? subs : processor;
      const parsed = contract.interface.parseLog(log)!;
      return { name: parsed.name, args: parsed.args.toObject() };
    });
}

describe("Subscriptions (token pulls)", function () {
  it("LocalDev deploys Subscriptions bound to the processor, with no owner", async function () {
    const { subs, processor } = await deploy();
    expect(await subs.processor()).to.equal(await processor.getAddress());
    expect(await subs.subscriptionCount()).to.equal(0n);
    const functions = subs.interface.fragments
      .filter((f) => f.type === "function")
      .map((f) => String(f.format()));
    expect(functions.some((f) => /owner|rescue|pause/i.test(f))).to.equal(false);
  });

  it("approve + subscribe, then a keeper collects three monthly periods with time travel; early and double collects are refused", async function () {
    const ctx = await deploy();
    const { networkHelpers, processor, subs, usdc, customer, merchant, keeper } = ctx;
    const { id, start, receipt } = await subscribeByApproval(ctx);
    expect(indexed(receipt, subs, processor)).to.deep.equal([
      {
        name: "Subscribed",
        args: {
          id,
          merchant: merchant.address,
          ref: REF,
          customer: customer.address,
          token: await usdc.getAddress(),
          amountPerPeriod: AMOUNT,
          interval: MONTH,
          start,
        },
      },
    ]);
    expect(await subs.paidThrough(id)).to.equal(start);

    for (let period = 0n; period < 3n; period++) {
      const dueAt = start + period * MONTH;
      if (period > 0n) {
        // One second early: refused with the due time, so a keeper knows when to come back.
        await networkHelpers.time.setNextBlockTimestamp(dueAt - 1n);
        await expect(subs.connect(keeper).collect(id))
          .to.be.revertedWithCustomError(subs, "SubscriptionsNotDue")
          .withArgs(id, dueAt, dueAt - 1n);
        await networkHelpers.time.setNextBlockTimestamp(dueAt);
      }
      const tx = subs.connect(keeper).collect(id);
      await expect(tx)
        .to.emit(subs, "Collected")
        .withArgs(id, period, dueAt + MONTH, AMOUNT);
      await expect(tx)
        .to.emit(processor, "PaymentReceived")
        .withArgs(merchant.address, REF, await subs.getAddress(), await usdc.getAddress(), AMOUNT);
      expect(await subs.paidThrough(id)).to.equal(dueAt + MONTH);

      // A second collect in the same period (the very next block) is refused.
      await expect(subs.connect(keeper).collect(id)).to.be.revertedWithCustomError(
        subs,
        "SubscriptionsNotDue",
      );
    }
    expect(await processor.balanceOf(merchant, usdc)).to.equal(3n * AMOUNT);
    expect(await usdc.balanceOf(customer)).to.equal(1_000n * 10n ** 6n - 3n * AMOUNT);
    expect(await usdc.allowance(customer, subs)).to.equal(9n * AMOUNT);
    expect(await usdc.balanceOf(subs)).to.equal(0n);
    expect(await usdc.balanceOf(keeper)).to.equal(0n);
    // The merchant withdraws the collected money like any payment.
    await (await processor.connect(merchant).withdraw(usdc, 3n * AMOUNT, merchant)).wait();
    expect(await usdc.balanceOf(merchant)).to.equal(3n * AMOUNT);
  });

  it("the indexer's rule: each collect transaction holds Collected(id, period, paidThrough, amount) then PaymentReceived(orderId = ref, payer = Subscriptions)", async function () {
    const ctx = await deploy();
    const { networkHelpers, processor, subs, usdc, merchant } = ctx;
    const { id, start } = await subscribeByApproval(ctx);
    let collected = 0n;
    for (let period = 0n; period < 3n; period++) {
      if (period > 0n) await networkHelpers.time.increaseTo(start + period * MONTH);
      const receipt = (await (await subs.collect(id)).wait())!;
      const events = indexed(receipt, subs, processor);
      expect(events.map((e) => e.name)).to.deep.equal(["Collected", "PaymentReceived"]);
      const [c, p] = events as [(typeof events)[number], (typeof events)[number]];
      expect(c.args).to.deep.equal({
        id,
        period,
        paidThrough: start + (period + 1n) * MONTH,
        amount: AMOUNT,
      });
      expect(p.args).to.deep.equal({
        merchant: merchant.address,
        orderId: REF,
        payer: await subs.getAddress(),
        token: await usdc.getAddress(),
        amount: AMOUNT,
      });
      collected += c.args.amount as bigint;
    }
    expect(await processor.balanceOf(merchant, usdc)).to.equal(collected);
  });

  it("subscribeWithPermit: one transaction, no prior approval", async function () {
    const { ethers, processor, subs, usdc, customer, merchant } = await deploy();
    const cap = 12n * AMOUNT;
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    const sig = await signPermit(usdc, customer, await subs.getAddress(), cap, deadline);
    await expect(
      subs
        .connect(customer)
        .subscribeWithPermit(merchant, usdc, AMOUNT, MONTH, 0n, REF, cap, deadline, sig.v, sig.r, sig.s),
    ).to.emit(subs, "Subscribed");
    expect(await usdc.allowance(customer, subs)).to.equal(cap);
    await (await subs.collect(1n)).wait();
    expect(await processor.balanceOf(merchant, usdc)).to.equal(AMOUNT);
  });

  it("a collect after cancel is refused; the paid period stays paid", async function () {
    const ctx = await deploy();
    const { networkHelpers, subs, customer, keeper } = ctx;
    const { id, start } = await subscribeByApproval(ctx);
    await (await subs.connect(keeper).collect(id)).wait();
    await expect(subs.connect(customer).cancel(id))
      .to.emit(subs, "Cancelled")
      .withArgs(id, customer.address, start + MONTH);
    await networkHelpers.time.increaseTo(start + 2n * MONTH);
    await expect(subs.connect(keeper).collect(id))
      .to.be.revertedWithCustomError(subs, "SubscriptionsCancelledAlready")
      .withArgs(id);
    expect(await subs.paidThrough(id)).to.equal(start + MONTH);
  });

  it("an allowance reduced by the customer: a keeper's simulation names the reason, and the period waits", async function () {
    const ctx = await deploy();
    const { networkHelpers, subs, usdc, customer, keeper } = ctx;
    const { id, start } = await subscribeByApproval(ctx);
    await (await subs.connect(keeper).collect(id)).wait();
    await (await usdc.connect(customer).approve(subs, AMOUNT / 2n)).wait();
    await networkHelpers.time.increaseTo(start + MONTH);

    // The keeper simulates before sending (eth_call) and reads the custom error.
    let reason = "";
    try {
      await subs.connect(keeper).collect.staticCall(id);
    } catch (error) {
      const data = (error as { data?: string }).data ?? "";
      const parsed = subs.interface.parseError(data);
      reason = `${parsed?.name}(${parsed?.args.join(",")})`;
    }
    expect(reason).to.equal(`SubscriptionsInsufficientAllowance(${id},${AMOUNT / 2n},${AMOUNT})`);
    await expect(subs.connect(keeper).collect(id))
      .to.be.revertedWithCustomError(subs, "SubscriptionsInsufficientAllowance")
      .withArgs(id, AMOUNT / 2n, AMOUNT);
    expect(await subs.paidThrough(id)).to.equal(start + MONTH);

    // An emptied balance is named too.
    await (await usdc.connect(customer).approve(subs, AMOUNT)).wait();
    const all = await usdc.balanceOf(customer);
    await (await usdc.connect(customer).transfer(keeper, all)).wait();
    await expect(subs.connect(keeper).collect(id))
      .to.be.revertedWithCustomError(subs, "SubscriptionsInsufficientBalance")
      .withArgs(id, 0n, AMOUNT);
  });

  it("paidThrough is read by another contract (a merchant's gate), which also checks the terms", async function () {
    const ctx = await deploy();
    const { ethers, networkHelpers, subs, usdc, merchant, customer } = ctx;
    const gate: SubscriptionGate = await ethers.deployContract("SubscriptionGate", [
      subs,
      merchant,
      usdc,
      AMOUNT,
      MONTH,
    ]);
    const { id, start } = await subscribeByApproval(ctx);
    expect(await gate.hasAccess(id)).to.equal(false);
    await (await subs.collect(id)).wait();
    expect(await gate.hasAccess(id)).to.equal(true);
    await (await gate.connect(customer).enter(id)).wait();
    expect(await gate.entries()).to.equal(1n);
    await networkHelpers.time.increaseTo(start + MONTH);
    expect(await gate.hasAccess(id)).to.equal(false);
    await expect(gate.enter(id)).to.be.revertedWithCustomError(gate, "SubscriptionGateNoAccess").withArgs(id);
    await (await subs.collect(id)).wait();
    expect(await gate.hasAccess(id)).to.equal(true);
  });
});
