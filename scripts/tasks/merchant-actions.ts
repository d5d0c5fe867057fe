// Actions of the merchant tasks (scripts/tasks/merchant.ts), loaded lazily by Hardhat.
import { readFile } from "node:fs/promises";
import path from "node:path";

import { configVariable } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { ContractTransactionResponse } from "ethers";

import type { IPaymentProcessor } from "../../types/ethers-contracts/index.js";

const ETH = "0x0000000000000000000000000000000000000000";

/** A usage or state problem reported to the merchant as one line, without a stack trace. */
class MerchantCliError extends Error {}

/** Runs a task body; a `MerchantCliError` prints `error: ...` and sets exit code 1. */
async function cli(body: () => Promise<void>) {
  try {
    await body();
  } catch (error) {
    if (!(error instanceof MerchantCliError)) throw error;
    console.error(`error: ${error.message}`);
    process.exitCode = 1;
  }
}

interface CommonArgs {
  token: string;
  processor: string;
  keyVar: string;
}

/** Reads a configuration variable the way Hardhat does: keystore first, then the environment. */
async function readConfigVariable(hre: HardhatRuntimeEnvironment, name: string): Promise<string> {
  return hre.hooks.runHandlerChain(
    "configurationVariables",
    "fetchValue",
    [configVariable(name)],
    async (_context, variable) => {
      const value = process.env[variable.name];
      if (value === undefined || value === "") {
        throw new MerchantCliError(
          `${variable.name} is not set: run \`npx hardhat keystore set ${variable.name}\` (or export it)`,
        );
      }
      return value;
    },
  );
}

async function setup(hre: HardhatRuntimeEnvironment, args: CommonArgs, needsKey: boolean) {
  const connection = await hre.network.create();
  const { ethers } = connection;
  const { chainId } = await ethers.provider.getNetwork();

  let processorAddress = args.processor;
  let deployed: Record<string, string> = {};
  const deployedFile = path.join(
    hre.config.paths.root,
    "ignition",
    "deployments",
    `chain-${chainId}`,
    "deployed_addresses.json",
  );
  try {
    deployed = JSON.parse(await readFile(deployedFile, "utf8")) as Record<string, string>;
  } catch {
    // no Ignition deployment on this chain: --processor is required
  }
  if (processorAddress === "") processorAddress = deployed["EthereumPos#PaymentProcessor"] ?? "";
  if (!ethers.isAddress(processorAddress)) {
    throw new MerchantCliError(
      `no PaymentProcessor address: pass --processor (nothing usable in ${deployedFile})`,
    );
  }

  let token: string;
  const t = args.token.toLowerCase();
  if (t === "eth") token = ETH;
  else if (t === "usdc") {
    token = deployed["LocalDev#MockStablecoin"] ?? "";
    if (token === "")
      throw new MerchantCliError('"usdc" only names the LocalDev stablecoin: pass the token address');
  } else if (ethers.isAddress(args.token)) token = ethers.getAddress(args.token);
  else throw new MerchantCliError(`--token must be "eth", "usdc" or an address, got "${args.token}"`);

  let decimals = 18;
  let symbol = "ETH";
  if (token !== ETH) {
    const erc20 = new ethers.Contract(
      token,
      ["function decimals() view returns (uint8)", "function symbol() view returns (string)"],
      ethers.provider,
    );
    decimals = Number(await erc20.getFunction("decimals")());
    symbol = String(await erc20.getFunction("symbol")());
  }

  const wallet = needsKey
    ? new ethers.Wallet(await readConfigVariable(hre, args.keyVar), ethers.provider)
    : undefined;
  const processor = (await ethers.getContractAt(
    "IPaymentProcessor",
    processorAddress,
    wallet,
  )) as unknown as IPaymentProcessor;
  return { connection, ethers, chainId, processor, processorAddress, token, decimals, symbol, wallet };
}

function parseAmount(
  ethers: { parseUnits: (v: string, d: number) => bigint },
  amount: string,
  decimals: number,
  raw: boolean,
) {
  if (amount === "") throw new MerchantCliError("--amount is required");
  const value = raw ? BigInt(amount) : ethers.parseUnits(amount, decimals); // exact fixed-point parsing
  if (value <= 0n) throw new MerchantCliError("--amount must be positive");
  return value;
}

function parseOrderId(
  ethers: { zeroPadValue: (v: string, n: number) => string; toBeHex: (v: bigint) => string },
  id: string,
) {
  if (id === "") throw new MerchantCliError("--order-id is required");
  if (id.startsWith("0x")) {
    if (id.length !== 66)
      throw new MerchantCliError("a hex --order-id must be a full bytes32 (0x + 64 hex digits)");
    return id;
  }
  if (!/^\d+$/.test(id)) throw new MerchantCliError("--order-id must be a decimal id or a 0x bytes32");
  return ethers.zeroPadValue(ethers.toBeHex(BigInt(id)), 32); // same encoding as server/src/orders/ids.ts
}

async function report(tx: ContractTransactionResponse) {
  console.log(`sent ${tx.hash}`);
  const receipt = await tx.wait();
  console.log(`mined in block ${receipt?.blockNumber}, gas used ${receipt?.gasUsed}`);
}

export async function balanceAction(args: CommonArgs & { merchant: string }, hre: HardhatRuntimeEnvironment) {
  await cli(async () => {
    const needsKey = args.merchant === "";
    const { ethers, chainId, processor, processorAddress, token, decimals, symbol, wallet } = await setup(
      hre,
      args,
      needsKey,
    );
    const merchant = needsKey ? wallet!.address : ethers.getAddress(args.merchant);
    const balance = await processor.balanceOf(merchant, token);
    console.log(`processor ${processorAddress} on chain ${chainId}`);
    console.log(`merchant  ${merchant}`);
    console.log(`balance   ${ethers.formatUnits(balance, decimals)} ${symbol} (${balance} smallest units)`);
  });
}

export async function withdrawAction(
  args: CommonArgs & { amount: string; to: string; raw: boolean },
  hre: HardhatRuntimeEnvironment,
) {
  await cli(async () => {
    const { ethers, processor, token, decimals, symbol, wallet } = await setup(hre, args, true);
    const merchant = wallet!.address;
    const balance = await processor.balanceOf(merchant, token);
    const amount = args.amount === "all" ? balance : parseAmount(ethers, args.amount, decimals, args.raw);
    if (amount === 0n) throw new MerchantCliError("nothing to withdraw");
    if (amount > balance) {
      throw new MerchantCliError(
        `balance is ${ethers.formatUnits(balance, decimals)} ${symbol}, cannot withdraw more`,
      );
    }
    const to = args.to === "" ? merchant : ethers.getAddress(args.to);
    console.log(`withdrawing ${ethers.formatUnits(amount, decimals)} ${symbol} from ${merchant} to ${to}`);
    await report(await processor.withdraw(token, amount, to));
    console.log(
      `balance now ${ethers.formatUnits(await processor.balanceOf(merchant, token), decimals)} ${symbol}`,
    );
  });
}

export async function refundAction(
  args: CommonArgs & { amount: string; to: string; orderId: string; raw: boolean },
  hre: HardhatRuntimeEnvironment,
) {
  await cli(async () => {
    const { ethers, processor, token, decimals, symbol, wallet } = await setup(hre, args, true);
    const merchant = wallet!.address;
    const amount = parseAmount(ethers, args.amount, decimals, args.raw);
    if (args.to === "") throw new MerchantCliError("--to (the customer's address) is required");
    const to = ethers.getAddress(args.to);
    const orderId = parseOrderId(ethers, args.orderId);
    console.log(`refunding ${ethers.formatUnits(amount, decimals)} ${symbol} for order ${orderId} to ${to}`);
    await report(await processor.refund(token, orderId, to, amount));
    console.log(
      `balance now ${ethers.formatUnits(await processor.balanceOf(merchant, token), decimals)} ${symbol}`,
    );
  });
}
