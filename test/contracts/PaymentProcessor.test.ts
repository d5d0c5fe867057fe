// Flow and event tests of the PaymentProcessor with ethers v6, typechain types and chai matchers, on a
// fresh in-process Hardhat network per test (network.create()).
import { expect } from "chai";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Signature } from "ethers";
import { describe, it } from "mocha";

import type {
  FeeOnTransferToken,
  MockStablecoin,
  MockV3Aggregator,
  PaymentProcessor,
} from "../../types/ethers-contracts/index.js";
import EthereumPosModule from "../../ignition/modules/EthereumPos.ts";
import LocalDevModule from "../../ignition/modules/LocalDev.ts";

const ETH = "0x0000000000000000000000000000000000000000";
const ORDER = "0x" + 4_242_424_242n.toString(16).padStart(64, "0"); // an id as the server makes them

async function deploy() {
  const connection = await network.create();
  const { ethers } = connection;
  const [owner, payer, merchant, customer, stranger] = await ethers.getSigners();
  if (!owner || !payer || !merchant || !customer || !stranger) throw new Error("need 5 accounts");
  const processor: PaymentProcessor = await ethers.deployContract("PaymentProcessor", [owner.address]);
  const usdc: MockStablecoin = await ethers.deployContract("MockStablecoin");
  await (await processor.connect(owner).setTokenAllowed(usdc, true)).wait();
  await (await usdc.mint(payer, 1_000_000n * 10n ** 6n)).wait();
  return { connection, ethers, processor, usdc, owner, payer, merchant, customer, stranger };
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
  const { Signature } = await import("ethers");
  return Signature.from(signature);
}

describe("PaymentProcessor flows", function () {
  describe("ETH", function () {
    it("pay → withdraw → refund moves exactly the amounts and emits every event", async function () {
      const { ethers, processor, payer, merchant, customer } = await deploy();
      let tx;
      const oneEth = ethers.parseEther("1");

      tx = await processor.connect(payer).pay(merchant, ORDER, { value: 3n * oneEth });
      await expect(tx)
        .to.emit(processor, "PaymentReceived")
        .withArgs(merchant.address, ORDER, payer.address, ETH, 3n * oneEth);
      await expect(tx).to.changeEtherBalances(ethers, [payer, processor], [-3n * oneEth, 3n * oneEth]);
      expect(await processor.balanceOf(merchant, ETH)).to.equal(3n * oneEth);

      tx = await processor.connect(merchant).refund(ETH, ORDER, customer, oneEth);
      await expect(tx)
        .to.emit(processor, "Refunded")
        .withArgs(merchant.address, ORDER, customer.address, ETH, oneEth);
      await expect(tx).to.changeEtherBalances(ethers, [processor, customer], [-oneEth, oneEth]);

      tx = await processor.connect(merchant).withdraw(ETH, 2n * oneEth, merchant);
      await expect(tx)
        .to.emit(processor, "Withdrawn")
        .withArgs(merchant.address, ETH, merchant.address, 2n * oneEth);
      await expect(tx).to.changeEtherBalance(ethers, processor, -2n * oneEth);
      expect(await processor.balanceOf(merchant, ETH)).to.equal(0n);
    });

    it("refuses plain ETH transfers and unknown selectors", async function () {
      const { processor, payer } = await deploy();
      await expect(
        payer.sendTransaction({ to: await processor.getAddress(), value: 1n }),
      ).to.be.revertedWithCustomError(processor, "PaymentProcessorUnattributedEther");
      await expect(
        payer.sendTransaction({ to: await processor.getAddress(), value: 1n, data: "0x12345678" }),
      ).to.be.revertedWithCustomError(processor, "PaymentProcessorUnattributedEther");
    });

    it("rejects zero merchant and zero value with their own errors", async function () {
      const { processor, payer, merchant } = await deploy();
      await expect(processor.connect(payer).pay(ETH, ORDER, { value: 1n })).to.be.revertedWithCustomError(
        processor,
        "PaymentProcessorZeroMerchant",
      );
      await expect(processor.connect(payer).pay(merchant, ORDER)).to.be.revertedWithCustomError(
        processor,
        "PaymentProcessorZeroAmount",
      );
    });

    it("a stranger cannot withdraw a merchant's balance", async function () {
      const { processor, payer, merchant, stranger } = await deploy();
      await (await processor.connect(payer).pay(merchant, ORDER, { value: 100n })).wait();
      await expect(processor.connect(stranger).withdraw(ETH, 100n, stranger))
        .to.be.revertedWithCustomError(processor, "PaymentProcessorInsufficientBalance")
        .withArgs(stranger.address, ETH, 0n, 100n);
    });
  });

  describe("ERC-20", function () {
    it("payToken → refund → withdraw with an allowance", async function () {
      const { ethers, processor, usdc, payer, merchant, customer } = await deploy();
      let tx;
      await (await usdc.connect(payer).approve(processor, ethers.MaxUint256)).wait();

      tx = await processor.connect(payer).payToken(usdc, 25_000_000n, merchant, ORDER);
      await expect(tx)
        .to.emit(processor, "PaymentReceived")
        .withArgs(merchant.address, ORDER, payer.address, await usdc.getAddress(), 25_000_000n);
      await expect(tx).to.changeTokenBalances(ethers, usdc, [payer, processor], [-25_000_000n, 25_000_000n]);

      tx = await processor.connect(merchant).refund(usdc, ORDER, customer, 5_000_000n);
      await expect(tx)
        .to.emit(processor, "Refunded")
        .withArgs(merchant.address, ORDER, customer.address, await usdc.getAddress(), 5_000_000n);
      await expect(tx).to.changeTokenBalance(ethers, usdc, customer, 5_000_000n);

      tx = await processor.connect(merchant).withdraw(usdc, 20_000_000n, merchant);
      await expect(tx)
        .to.emit(processor, "Withdrawn")
        .withArgs(merchant.address, await usdc.getAddress(), merchant.address, 20_000_000n);
      await expect(tx).to.changeTokenBalance(ethers, usdc, merchant, 20_000_000n);
      expect(await processor.balanceOf(merchant, usdc)).to.equal(0n);
    });

    it("payTokenWithPermit pays in one transaction, even after the permit was front-run", async function () {
      const { ethers, processor, usdc, payer, merchant, stranger } = await deploy();
      const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp + 3600);
      const spender = await processor.getAddress();

      let sig = await signPermit(usdc, payer, spender, 10_000_000n, deadline);
      await expect(
        processor
          .connect(payer)
          .payTokenWithPermit(usdc, 10_000_000n, merchant, ORDER, deadline, sig.v, sig.r, sig.s),
      )
        .to.emit(processor, "PaymentReceived")
        .withArgs(merchant.address, ORDER, payer.address, await usdc.getAddress(), 10_000_000n);

      // Someone copies the next signature from the mempool and uses it first.
      sig = await signPermit(usdc, payer, spender, 7_000_000n, deadline);
      await (
        await usdc.connect(stranger).permit(payer, spender, 7_000_000n, deadline, sig.v, sig.r, sig.s)
      ).wait();
      await expect(
        processor
          .connect(payer)
          .payTokenWithPermit(usdc, 7_000_000n, merchant, ORDER, deadline, sig.v, sig.r, sig.s),
      ).to.emit(processor, "PaymentReceived");
      expect(await processor.balanceOf(merchant, usdc)).to.equal(17_000_000n);

      // The same signature once more: permit fails and no allowance is left.
      await expect(
        processor
          .connect(payer)
          .payTokenWithPermit(usdc, 7_000_000n, merchant, ORDER, deadline, sig.v, sig.r, sig.s),
      )
        .to.be.revertedWithCustomError(processor, "PaymentProcessorInsufficientAllowance")
        .withArgs(await usdc.getAddress(), 0n, 7_000_000n);
    });

    it("credits a fee-on-transfer token with what actually arrived", async function () {
      const { ethers, processor, owner, payer, merchant } = await deploy();
      const fee: FeeOnTransferToken = await ethers.deployContract("FeeOnTransferToken", [300n]); // 3 %
      await (await processor.connect(owner).setTokenAllowed(fee, true)).wait();
      await (await fee.mint(payer, 10_000n)).wait();
      await (await fee.connect(payer).approve(processor, ethers.MaxUint256)).wait();

      await expect(processor.connect(payer).payToken(fee, 10_000n, merchant, ORDER))
        .to.emit(processor, "PaymentReceived")
        .withArgs(merchant.address, ORDER, payer.address, await fee.getAddress(), 9_700n);
      expect(await processor.balanceOf(merchant, fee)).to.equal(9_700n);
    });

    it("refuses tokens off the allowlist", async function () {
      const { ethers, processor, payer, merchant } = await deploy();
      const other: MockStablecoin = await ethers.deployContract("MockStablecoin");
      await expect(processor.connect(payer).payToken(other, 1n, merchant, ORDER))
        .to.be.revertedWithCustomError(processor, "PaymentProcessorTokenNotAllowed")
        .withArgs(await other.getAddress());
    });
  });

  describe("owner", function () {
    it("pauses new payments only: withdrawals and refunds keep working", async function () {
      const { ethers, processor, usdc, owner, payer, merchant, customer } = await deploy();
      await (await usdc.connect(payer).approve(processor, ethers.MaxUint256)).wait();
      await (await processor.connect(payer).pay(merchant, ORDER, { value: 10n })).wait();
      await (await processor.connect(payer).payToken(usdc, 10n, merchant, ORDER)).wait();

      await expect(processor.connect(owner).pause()).to.emit(processor, "Paused").withArgs(owner.address);
      await expect(
        processor.connect(payer).pay(merchant, ORDER, { value: 1n }),
      ).to.be.revertedWithCustomError(processor, "EnforcedPause");
      await expect(
        processor.connect(payer).payToken(usdc, 1n, merchant, ORDER),
      ).to.be.revertedWithCustomError(processor, "EnforcedPause");

      await expect(processor.connect(merchant).withdraw(ETH, 5n, merchant)).to.emit(processor, "Withdrawn");
      await expect(processor.connect(merchant).refund(usdc, ORDER, customer, 5n)).to.emit(
        processor,
        "Refunded",
      );

      await expect(processor.connect(owner).unpause()).to.emit(processor, "Unpaused").withArgs(owner.address);
      await expect(processor.connect(payer).payToken(usdc, 1n, merchant, ORDER)).to.emit(
        processor,
        "PaymentReceived",
      );
    });

    it("manages the allowlist and can only rescue tokens that were never on it", async function () {
      const { ethers, processor, usdc, owner, payer, stranger } = await deploy();
      await expect(processor.connect(stranger).setTokenAllowed(usdc, false))
        .to.be.revertedWithCustomError(processor, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
      await expect(processor.connect(owner).setTokenAllowed(usdc, false))
        .to.emit(processor, "TokenAllowlistUpdated")
        .withArgs(await usdc.getAddress(), false);
      expect(await processor.isTokenAllowed(usdc)).to.equal(false);

      // Once allowlisted, never rescuable (merchants may hold balances of it).
      await expect(processor.connect(owner).rescue(usdc, owner, 1n))
        .to.be.revertedWithCustomError(processor, "PaymentProcessorTokenNotRescuable")
        .withArgs(await usdc.getAddress());

      const stray: MockStablecoin = await ethers.deployContract("MockStablecoin");
      await (await stray.mint(payer, 500n)).wait();
      await (await stray.connect(payer).transfer(processor, 500n)).wait(); // sent by mistake
      const tx = await processor.connect(owner).rescue(stray, payer, 500n);
      await expect(tx)
        .to.emit(processor, "TokenRescued")
        .withArgs(await stray.getAddress(), payer.address, 500n);
      await expect(tx).to.changeTokenBalance(ethers, stray, payer, 500n);
    });

    it("transfers ownership in two steps", async function () {
      const { processor, owner, stranger } = await deploy();
      await (await processor.connect(owner).transferOwnership(stranger)).wait();
      expect(await processor.owner()).to.equal(owner.address);
      await (await processor.connect(stranger).acceptOwnership()).wait();
      expect(await processor.owner()).to.equal(stranger.address);
    });
  });
});

describe("Ignition modules", function () {
  it("EthereumPos deploys the PaymentProcessor owned by the `owner` parameter", async function () {
    const { ignition, ethers } = await network.create();
    const [, operator] = await ethers.getSigners();
    const { paymentProcessor } = await ignition.deploy(EthereumPosModule, {
      parameters: { EthereumPos: { owner: operator!.address } },
    });
    expect(await paymentProcessor.getFunction("owner")()).to.equal(operator!.address);
  });

  it("LocalDev deploys the processor, an allowlisted mock USDC and a $3,000 ETH/USD feed", async function () {
    const { ignition, ethers } = await network.create();
    const [deployer] = await ethers.getSigners();
    const deployed = await ignition.deploy(LocalDevModule);
    const processor = (await ethers.getContractAt(
      "PaymentProcessor",
      await deployed.paymentProcessor.getAddress(),
    )) as unknown as PaymentProcessor;
    const usdc = (await ethers.getContractAt(
      "MockStablecoin",
      await deployed.mockStablecoin.getAddress(),
    )) as unknown as MockStablecoin;
    const feed = (await ethers.getContractAt(
      "MockV3Aggregator",
      await deployed.mockV3Aggregator.getAddress(),
    )) as unknown as MockV3Aggregator;

    expect(await processor.owner()).to.equal(deployer!.address);
    expect(await processor.isTokenAllowed(usdc)).to.equal(true);
    expect(await usdc.symbol()).to.equal("USDC");
    expect(await usdc.name()).to.equal("USD Coin");
    expect(await usdc.decimals()).to.equal(6n);
    expect(await feed.decimals()).to.equal(8n);
    const [, answer, , updatedAt] = await feed.latestRoundData();
    expect(answer).to.equal(3000_00000000n);
    expect(updatedAt).to.be.greaterThan(0n);
  });
});
