// Actions of the merchant tasks (scripts/tasks/merchant.ts), loaded lazily by Hardhat.
import { readFile } from "node:fs/promises";
import path from "node:path";

import { configVariable } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { ContractTransactionResponse } from "ethers";
import { zeroAddress } from "viem";

import type { IPaymentProcessor } from "../../types/ethers-contracts/index.js";
import { runningDevStack } from "../lib/dev-stack.ts";

const ETH = zeroAddress;

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

/**
 * A configuration variable that may be unset: undefined then. Declared with an empty default, so
 * the keystore asks for no password when it does not hold the key, and the environment comes first.
 */
async function optionalConfigVariable(hre: HardhatRuntimeEnvironment, name: string) {
  const value = await hre.hooks.runHandlerChain(
    "configurationVariables",
    "fetchValue",
    [configVariable(name, { default: "" })],
    async (_context, variable) => process.env[variable.name] ?? "",
  );
  return value.trim() === "" ? undefined : value.trim();
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

/** The fields of the server's order JSON (GET /order/:id) a refund needs. */
interface ServerOrder {
  id: number;
  reference: string;
  return_to: string;
  chain_id: number;
  token: string;
  status: string;
  amount_paid: string;
}

/**
 * The order that `--order-id` names, looked up on the server: the chain knows an order only by its
 * `reference`, and a refund naming anything else is recorded against no order (the money leaves the
 * balance, the order stays as it was and no `refunded` callback goes out). A decimal id is read with
 * GET /order/:id (anonymous orders need no key); a reference with the console's lookup, which needs
 * the merchant's API key. Whatever matches no order of that account is refused here, before signing.
 */
async function lookUpOrder(
  hre: HardhatRuntimeEnvironment,
  args: { orderId: string; api: string; apiKeyVar: string },
  chainId: bigint,
): Promise<ServerOrder> {
  const id = args.orderId.trim();
  if (id === "") {
    throw new MerchantCliError(
      "--order-id is required: the server's order id (the id of GET /order/:id) or the order's reference",
    );
  }
  const isReference = /^0x[0-9a-fA-F]{64}$/.test(id);
  if (!isReference && !/^[0-9]{1,16}$/.test(id)) {
    throw new MerchantCliError(
      `--order-id must be the server's decimal order id or the order's reference (0x + 64 hex digits), got "${id}"`,
    );
  }
  const stack = runningDevStack(undefined, hre.config.paths.root);
  const api = (args.api || (stack?.chain.chainId === Number(chainId) ? stack.api.url : "")).replace(
    /\/+$/,
    "",
  );
  if (api === "") {
    throw new MerchantCliError(
      `the order is looked up on your server first: pass --api <its URL> (npm start's is found by itself on --network localhost)`,
    );
  }
  const apiKey = await optionalConfigVariable(hre, args.apiKeyVar);
  if (isReference && apiKey === undefined) {
    throw new MerchantCliError(
      `a reference is looked up with your API key: set ${args.apiKeyVar} (\`npx hardhat keystore set ${args.apiKeyVar}\`, or export it), or pass the order's decimal id`,
    );
  }
  const url = isReference ? `${api}/console/orders/${id}` : `${api}/order/${id}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/json", ...(apiKey === undefined ? {} : { authorization: apiKey }) },
    });
  } catch (error) {
    throw new MerchantCliError(
      `the server at ${api} does not answer (${(error as Error).message}); nothing was signed`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as {
    order?: ServerOrder | null;
    error?: { message?: string };
  } & Partial<ServerOrder>;
  const order = isReference ? body.order : res.ok ? (body as ServerOrder) : undefined;
  if (res.status === 401) {
    throw new MerchantCliError(`${args.apiKeyVar} is not a valid API key at ${api}; nothing was signed`);
  }
  if (res.status === 404 || (res.ok && !order)) {
    throw new MerchantCliError(
      `no order ${id} at ${api}` +
        (apiKey === undefined
          ? ` (an order made with an API key is found with it: set ${args.apiKeyVar})`
          : " in the account of that API key") +
        "; nothing was signed",
    );
  }
  if (!res.ok || !order) {
    throw new MerchantCliError(
      `looking up order ${id} at ${api} failed: HTTP ${res.status} ${body.error?.message ?? ""}; nothing was signed`,
    );
  }
  return order;
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
  args: CommonArgs & {
    amount: string;
    to: string;
    orderId: string;
    api: string;
    apiKeyVar: string;
    raw: boolean;
  },
  hre: HardhatRuntimeEnvironment,
) {
  await cli(async () => {
    const { ethers, chainId, processor, token, decimals, symbol, wallet } = await setup(hre, args, true);
    const merchant = wallet!.address;
    const amount = parseAmount(ethers, args.amount, decimals, args.raw);
    if (args.to === "") throw new MerchantCliError("--to (the customer's address) is required");
    const to = ethers.getAddress(args.to);
    const order = await lookUpOrder(hre, args, chainId);
    // The indexer counts a refund toward an order only from the order's merchant address, chain and token.
    if (ethers.getAddress(order.return_to) !== merchant) {
      throw new MerchantCliError(
        `order ${order.id} pays ${ethers.getAddress(order.return_to)}, not ${merchant} (the key in ${args.keyVar}); nothing was signed`,
      );
    }
    if (BigInt(order.chain_id) !== chainId) {
      throw new MerchantCliError(
        `order ${order.id} is on chain ${order.chain_id}, this network is chain ${chainId}; nothing was signed`,
      );
    }
    if ((order.token === "ETH") !== (token === ETH)) {
      throw new MerchantCliError(
        `order ${order.id} is paid in ${order.token}, not ${symbol}: pass --token ${order.token === "ETH" ? "eth" : "<its address>"}; nothing was signed`,
      );
    }
    console.log(
      `refunding ${ethers.formatUnits(amount, decimals)} ${symbol} for order ${order.id} ` +
        `(${order.status}, paid ${order.amount_paid} ${order.token}; reference ${order.reference}) to ${to}`,
    );
    await report(await processor.refund(token, order.reference, to, amount));
    console.log(
      `balance now ${ethers.formatUnits(await processor.balanceOf(merchant, token), decimals)} ${symbol}`,
    );
  });
}
