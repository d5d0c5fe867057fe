// Flow and event tests of deposit addresses with ethers v6, typechain types and chai matchers, on a fresh
// in-process Hardhat network per test. Each call here is its own transaction, so these tests also cover
// what a Solidity test (one transaction) cannot: a late payment swept again, a second sweep finding
// nothing, a front-run followed by the operator's batch.
import { expect } from "chai";
import { network } from "hardhat";
import { describe, it } from "mocha";

import type { MockStablecoin, PaymentProcessor } from "../../types/ethers-contracts/index.js";
import LocalDevModule from "../../ignition/modules/LocalDev.ts";

const ETH = "0x0000000000000000000000000000000000000000";
const ORDER = "0x" + 4_242_424_242n.toString(16).padStart(64, "0");
const INIT_CODE_HASH = "0x170705579b341e4926d5292dd690808fce74db546893c036007040cab888b4b4";

async function deploy() {
  const { ethers } = await network.create();
  const [owner, customer, merchant, sweeper, stranger] = await ethers.getSigners();
  if (!owner || !customer || !merchant || !sweeper || !stranger) throw new Error("need 5 accounts");
  const processor: PaymentProcessor = await ethers.deployContract("PaymentProcessor", [owner.address]);
  const usdc: MockStablecoin = await ethers.deployContract("MockStablecoin");
  await (await processor.connect(owner).setTokenAllowed(usdc, true)).wait();
  await (await usdc.mint(customer, 1_000_000n * 10n ** 6n)).wait();
  return { ethers, processor, usdc, owner, customer, merchant, sweeper, stranger };
}

/** The off-chain derivation the server uses (docs/contracts.md, "Deposit addresses"). */
function deriveDeposit(
  ethers: Awaited<ReturnType<typeof deploy>>["ethers"],
  processor: string,
  merchant: string,
  orderId: string,
  chainId: bigint,
): string {
  const salt = ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(["address", "bytes32", "uint256"], [merchant, orderId, chainId]),
  );
  return ethers.getCreate2Address(processor, salt, INIT_CODE_HASH);
}

describe("Deposit addresses", function () {
  it("the server's off-chain derivation equals depositAddressOf, and the init code hash is the documented one", async function () {
    const { ethers, processor, merchant } = await deploy();
    const { chainId } = await ethers.provider.getNetwork();
    expect(await processor.depositInitCodeHash()).to.equal(INIT_CODE_HASH);
    for (const orderId of [ORDER, ethers.ZeroHash, ethers.keccak256("0x01")]) {
      expect(await processor.depositAddressOf(merchant, orderId)).to.equal(
        deriveDeposit(ethers, await processor.getAddress(), merchant.address, orderId, chainId),
      );
    }
  });

  it("a 21,000-gas plain transfer pays the deposit address; a stranger's sweep credits the merchant with PaymentReceived", async function () {
    const { ethers, processor, customer, merchant, stranger } = await deploy();
    const deposit = await processor.depositAddressOf(merchant, ORDER);
    const amount = ethers.parseEther("0.42");

    const transfer = await customer.sendTransaction({ to: deposit, value: amount, gasLimit: 21_000 });
    const receipt = await transfer.wait();
    expect(receipt!.status).to.equal(1);
    expect(receipt!.gasUsed).to.equal(21_000n);
    expect(await ethers.provider.getCode(deposit)).to.equal("0x");

    const sweep = await processor.connect(stranger).sweepOrder(merchant, ORDER, ETH);
    await expect(sweep)
      .to.emit(processor, "PaymentReceived")
      .withArgs(merchant.address, ORDER, deposit, ETH, amount);
    await expect(sweep).to.changeEtherBalances(ethers, [deposit, processor, stranger], [-amount, amount, 0n]);
    expect(await processor.balanceOf(merchant, ETH)).to.equal(amount);
    expect(await processor.balanceOf(stranger, ETH)).to.equal(0n);
    expect(await ethers.provider.getCode(deposit)).to.equal("0x");
  });

  it("indexer rule: a PaymentReceived is a sweep iff its payer is the deposit address derived from its merchant and orderId", async function () {
    const { ethers, processor, customer, merchant, sweeper } = await deploy();
    const { chainId } = await ethers.provider.getNetwork();
    const procAddr = await processor.getAddress();
    await (
      await customer.sendTransaction({ to: await processor.depositAddressOf(merchant, ORDER), value: 5n })
    ).wait();
    const swept = await (await processor.connect(sweeper).sweepOrder(merchant, ORDER, ETH)).wait();
    const direct = await (await processor.connect(customer).pay(merchant, ORDER, { value: 7n })).wait();
    const kinds = [swept!, direct!].map((r) => {
      const log = processor.interface.parseLog(r.logs[0]!)!;
      const [m, orderId, payer] = log.args as unknown as [string, string, string];
      return payer === deriveDeposit(ethers, procAddr, m, orderId, chainId) ? "sweep" : "pay";
    });
    expect(kinds).to.deep.equal(["sweep", "pay"]);
  });

  it("a late payment to a swept address is swept again; a sweep that finds nothing reverts with NothingToSweep", async function () {
    const { ethers, processor, customer, merchant, sweeper } = await deploy();
    const deposit = await processor.depositAddressOf(merchant, ORDER);
    await (await customer.sendTransaction({ to: deposit, value: 100n, gasLimit: 21_000 })).wait();
    await (await processor.connect(sweeper).sweepOrder(merchant, ORDER, ETH)).wait();

    await expect(processor.connect(sweeper).sweepOrder(merchant, ORDER, ETH))
      .to.be.revertedWithCustomError(processor, "PaymentProcessorNothingToSweep")
      .withArgs(deposit, ETH);

    const late = await customer.sendTransaction({ to: deposit, value: 30n, gasLimit: 21_000 });
    expect((await late.wait())!.gasUsed).to.equal(21_000n);
    await expect(processor.connect(sweeper).sweepOrder(merchant, ORDER, ETH))
      .to.emit(processor, "PaymentReceived")
      .withArgs(merchant.address, ORDER, deposit, ETH, 30n);
    expect(await processor.balanceOf(merchant, ETH)).to.equal(130n);
  });

  it("a front-runner's sweep credits the merchant; the operator's batch that follows skips the empty deposit", async function () {
    const { processor, customer, merchant, sweeper, stranger } = await deploy();
    const deposit = await processor.depositAddressOf(merchant, ORDER);
    const order2 = "0x" + "02".padStart(64, "0");
    await (await customer.sendTransaction({ to: deposit, value: 100n })).wait();
    await (
      await customer.sendTransaction({ to: await processor.depositAddressOf(merchant, order2), value: 50n })
    ).wait();
    await (await processor.connect(stranger).sweepOrder(merchant, ORDER, ETH)).wait();

    const batch = processor.connect(sweeper).sweepDeposits([
      { merchant: merchant.address, orderId: ORDER, token: ETH },
      { merchant: merchant.address, orderId: order2, token: ETH },
    ]);
    await expect(batch)
      .to.emit(processor, "PaymentReceived")
      .withArgs(merchant.address, order2, await processor.depositAddressOf(merchant, order2), ETH, 50n);
    expect(await processor.balanceOf(merchant, ETH)).to.equal(150n);
  });

  it("USDC sent with a plain transfer is swept with the ETH on the same address; a token off the allowlist goes to the merchant", async function () {
    const { ethers, processor, usdc, customer, merchant, sweeper } = await deploy();
    const deposit = await processor.depositAddressOf(merchant, ORDER);
    await (await usdc.connect(customer).transfer(deposit, 25_000_000n)).wait();
    await (await customer.sendTransaction({ to: deposit, value: 9n })).wait();

    const sweep = processor.connect(sweeper).sweepOrder(merchant, ORDER, usdc);
    await expect(sweep)
      .to.emit(processor, "PaymentReceived")
      .withArgs(merchant.address, ORDER, deposit, await usdc.getAddress(), 25_000_000n)
      .and.to.emit(processor, "PaymentReceived")
      .withArgs(merchant.address, ORDER, deposit, ETH, 9n);
    await expect(sweep).to.changeTokenBalances(
      ethers,
      usdc,
      [deposit, processor],
      [-25_000_000n, 25_000_000n],
    );
    expect(await processor.balanceOf(merchant, usdc)).to.equal(25_000_000n);
    expect(await processor.balanceOf(merchant, ETH)).to.equal(9n);

    const stray: MockStablecoin = await ethers.deployContract("MockStablecoin");
    await (await stray.mint(deposit, 777n)).wait();
    await expect(processor.connect(sweeper).sweepOrder(merchant, ORDER, stray))
      .to.emit(processor, "DepositTokenForwarded")
      .withArgs(merchant.address, ORDER, deposit, await stray.getAddress(), 777n);
    expect(await stray.balanceOf(merchant)).to.equal(777n);
    expect(await processor.balanceOf(merchant, stray)).to.equal(0n);
  });

  it("sweeps honour the pause; merchants still withdraw", async function () {
    const { ethers, processor, owner, customer, merchant, sweeper } = await deploy();
    const deposit = await processor.depositAddressOf(merchant, ORDER);
    await (await processor.connect(customer).pay(merchant, ORDER, { value: 10n })).wait();
    await (await customer.sendTransaction({ to: deposit, value: 5n })).wait();
    await (await processor.connect(owner).pause()).wait();
    await expect(processor.connect(sweeper).sweepOrder(merchant, ORDER, ETH)).to.be.revertedWithCustomError(
      processor,
      "EnforcedPause",
    );
    await expect(processor.connect(merchant).withdraw(ETH, 10n, merchant)).to.emit(processor, "Withdrawn");
    await (await processor.connect(owner).unpause()).wait();
    await (await processor.connect(sweeper).sweepOrder(merchant, ORDER, ETH)).wait();
    expect(await processor.balanceOf(merchant, ETH)).to.equal(5n);
    expect(await ethers.provider.getBalance(deposit)).to.equal(0n);
  });

  it("LocalDev deploys a Multicall3 whose aggregate3 reads the ETH balances of many deposit addresses in one call", async function () {
    const { ignition, ethers } = await network.create();
    const [, customer, merchant] = await ethers.getSigners();
    const { paymentProcessor, multicall3 } = await ignition.deploy(LocalDevModule);
    const processor = paymentProcessor as unknown as PaymentProcessor;
    const orders = Array.from({ length: 50 }, (_, i) => "0x" + (i + 1).toString(16).padStart(64, "0"));
    const deposits = await Promise.all(orders.map((o) => processor.depositAddressOf(merchant!, o)));
    await (await customer!.sendTransaction({ to: deposits[7]!, value: 123n })).wait();
    await (await customer!.sendTransaction({ to: deposits[42]!, value: 456n })).wait();

    const calls = deposits.map((d) => ({
      target: multicall3.target,
      allowFailure: false,
      callData: multicall3.interface.encodeFunctionData("getEthBalance", [d]),
    }));
    const results = (await multicall3.getFunction("aggregate3").staticCall(calls)) as Array<
      [boolean, string]
    >;
    const balances = results.map(([ok, data]) => {
      expect(ok).to.equal(true);
      return BigInt(data);
    });
    expect(balances.filter((b) => b !== 0n)).to.deep.equal([123n, 456n]);
    expect(balances[7]).to.equal(123n);
    expect(balances[42]).to.equal(456n);
  });
});
