// Live-network smoke test for auditors: `npm run smoke -- --network <name>` (task definition:
// scripts/lib/smoke-task.ts; documentation: docs/contracts.md, "Smoke test on a live network").
//
// On the chosen network it deploys `ignition/modules/EthereumPos.ts` with Hardhat Ignition (or uses
// `--deployment <dir or address>`), then sends real transactions and checks every balance they touch:
//
//   1. pay          the payer pays a small amount for a fresh order reference
//   2. transfer     the payer sends the same amount with a plain 21,000-gas transfer to the order's deposit
//                   address (derived off-chain, checked against depositAddressOf), and
//      sweepOrder   a third account (the sweeper, a stranger) sweeps it: the merchant's balance in the
//                   contract grows by exactly the deposit
//   3. withdraw     the merchant withdraws what the run credited, less the refund below
//   4. refund       the merchant refunds half of the `pay` to the payer
//
// Every transaction prints its hash, gas used and a one-line result; a summary compares every balance
// before and after with the change the transactions explain (values and fees). Any mismatch exits 1.
//
// Keys never come from source: SMOKE_PAYER_KEY, SMOKE_MERCHANT_KEY and SMOKE_SWEEPER_KEY are read as
// configuration variables (Hardhat's keystore, then the environment). A role without a key uses the
// network's accounts: #1, #2, #3 on a node with dev accounts, else #0 (the deployer, e.g. SEPOLIA_PRIVATE_KEY).
import { access, readFile } from "node:fs/promises";
import path from "node:path";

import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { configVariable } from "hardhat/config";
import type { ContractTransactionResponse, Signer, TransactionReceipt, TransactionResponse } from "ethers";
import { zeroAddress } from "viem";

import EthereumPosModule from "../ignition/modules/EthereumPos.ts";
import { findPreset } from "../server/src/config/presets.ts";
import type { IPaymentProcessor } from "../types/ethers-contracts/index.js";
import {
  DEPOSIT_INIT_CODE_HASH,
  Ledger,
  deriveDepositAddress,
  eth,
  gas,
  parseOrderId,
  signedEth,
} from "./lib/smoke-checks.ts";

const ETH = zeroAddress;
const PROCESSOR_KEY = "EthereumPos#PaymentProcessor";

export interface SmokeArgs {
  deployment: string;
  deploymentId: string;
  fresh: boolean;
  amount: string;
  orderId: string;
}

/** A problem found before or while running, reported as one line without a stack trace. */
class SmokeError extends Error {}

/** Reads an optional configuration variable: keystore first, then the environment; "" when unset. */
async function optionalConfigVariable(hre: HardhatRuntimeEnvironment, name: string): Promise<string> {
  return hre.hooks.runHandlerChain(
    "configurationVariables",
    "fetchValue",
    [configVariable(name, { default: "" })],
    async (_context, variable) => process.env[variable.name] ?? "",
  );
}

interface Role {
  name: string;
  signer: Signer;
  address: string;
  source: string;
}

export default async function smoke(args: SmokeArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  try {
    const failures = await run(args, hre);
    if (failures.length > 0) {
      console.log(`\nsmoke test FAILED: ${failures.length} mismatch(es)`);
      for (const failure of failures) console.log(`  - ${failure}`);
      process.exitCode = 1;
    }
  } catch (error) {
    const e = error as Error & { shortMessage?: string };
    console.error(`\nerror: ${e instanceof SmokeError ? e.message : (e.shortMessage ?? e.message)}`);
    console.log("smoke test FAILED");
    process.exitCode = 1;
  }
}

async function run(args: SmokeArgs, hre: HardhatRuntimeEnvironment): Promise<string[]> {
  const connection = await hre.network.create();
  const { ethers, networkName } = connection;
  const { provider } = ethers;
  const { chainId } = await provider.getNetwork();
  const failures: string[] = [];

  const amount = parseAmount(ethers.parseEther, args.amount);
  const refundAmount = amount / 2n;
  const withdrawAmount = 2n * amount - refundAmount; // what the run credits, less the refund: net zero
  let orderId: string;
  try {
    orderId = args.orderId === "" ? ethers.hexlify(ethers.randomBytes(32)) : parseOrderId(args.orderId);
  } catch (error) {
    throw new SmokeError((error as Error).message);
  }

  console.log(`smoke test on ${networkName} (chain ${chainId})`);
  const preset = findPreset(networkName);
  if (preset !== undefined) {
    if (chainId !== BigInt(preset.chain.id)) {
      throw new SmokeError(
        `the RPC URL of --network ${networkName} reaches chain ${chainId}, not ${preset.chain.name} (${preset.chain.id})`,
      );
    }
    console.log(`  preset    ${preset.name}: ${preset.chain.name}`);
  }

  // --- Accounts -------------------------------------------------------------------------------------
  const signers = await ethers.getSigners();
  const role = async (name: string, variable: string, index: number): Promise<Role> => {
    const key = await optionalConfigVariable(hre, variable);
    if (key !== "") {
      const wallet = new ethers.Wallet(key, provider);
      return { name, signer: wallet, address: wallet.address, source: variable };
    }
    const signer = signers[index] ?? signers[0];
    if (signer === undefined) {
      throw new SmokeError(
        `no account for the ${name}: set ${variable} (\`npx hardhat keystore set ${variable}\`) or give the network accounts`,
      );
    }
    return {
      name,
      signer,
      address: signer.address,
      source: `network account #${signers[index] === undefined ? 0 : index}`,
    };
  };
  const payer = await role("payer", "SMOKE_PAYER_KEY", 1);
  const merchant = await role("merchant", "SMOKE_MERCHANT_KEY", 2);
  const sweeper = await role("sweeper", "SMOKE_SWEEPER_KEY", 3);
  for (const r of [payer, merchant, sweeper]) {
    console.log(`  ${r.name.padEnd(9)} ${r.address}  (${r.source})`);
  }
  if (sweeper.address === merchant.address) {
    console.log("  note: the sweeper is the merchant; set SMOKE_SWEEPER_KEY to sweep from a stranger");
  }

  // --- The contract ---------------------------------------------------------------------------------
  const processorAddress = await resolveProcessor(args, hre, connection);
  if ((await provider.getCode(processorAddress)) === "0x") {
    throw new SmokeError(`no contract code at ${processorAddress} on chain ${chainId}`);
  }
  const processor = (await ethers.getContractAt(
    "IPaymentProcessor",
    processorAddress,
  )) as unknown as IPaymentProcessor;
  const initCodeHash = await processor.depositInitCodeHash().catch(() => {
    throw new SmokeError(`${processorAddress} does not answer depositInitCodeHash(): not a PaymentProcessor`);
  });
  if (initCodeHash !== DEPOSIT_INIT_CODE_HASH) {
    failures.push(
      `depositInitCodeHash() is ${initCodeHash}, docs/contracts.md says ${DEPOSIT_INIT_CODE_HASH}`,
    );
    console.log(`  MISMATCH depositInitCodeHash() ${initCodeHash} (documented ${DEPOSIT_INIT_CODE_HASH})`);
  }
  const deposit = deriveDepositAddress(processorAddress, merchant.address, orderId, chainId);
  const onChainDeposit = await processor.depositAddressOf(merchant.address, orderId);
  console.log(`  processor ${processorAddress}`);
  console.log(`  order     ${orderId}`);
  if (onChainDeposit !== deposit) {
    // Checked before any money moves: sending to a wrongly derived address would lose it.
    throw new SmokeError(
      `derived deposit address ${deposit} differs from depositAddressOf(): ${onChainDeposit}; nothing was sent`,
    );
  }
  console.log(`  deposit   ${deposit}  (derived off-chain = depositAddressOf)`);
  console.log(`  amount    ${eth(amount)} per payment, refund ${eth(refundAmount)}`);

  // --- Enough funds? (before sending anything) ------------------------------------------------------
  const fees = await provider.getFeeData();
  const gasPrice = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
  const needs = new Ledger();
  needs.add(payer.address, 2n * amount + 80_000n * gasPrice); // pay ~49k + transfer 21k
  needs.add(sweeper.address, 80_000n * gasPrice); // sweepOrder ~70k
  needs.add(merchant.address, 100_000n * gasPrice); // withdraw + refund
  for (const address of new Set([payer.address, merchant.address, sweeper.address])) {
    const balance = await provider.getBalance(address);
    if (balance < needs.expected(address)) {
      throw new SmokeError(
        `${address} holds ${eth(balance)}; this run needs about ${eth(needs.expected(address))} there ` +
          `(payments and gas at ${ethers.formatUnits(gasPrice, "gwei")} gwei): fund it first`,
      );
    }
  }

  // --- Balances before ------------------------------------------------------------------------------
  const tracked: { label: string; address: string }[] = [
    { label: "payer", address: payer.address },
    { label: "merchant", address: merchant.address },
    { label: "sweeper", address: sweeper.address },
    { label: "processor", address: processorAddress },
    { label: "deposit", address: deposit },
  ];
  const startBlock = await provider.getBlockNumber();
  const walletsBefore = await Promise.all(tracked.map((t) => provider.getBalance(t.address, startBlock)));
  const merchantBefore = await processor.balanceOf(merchant.address, ETH, { blockTag: startBlock });
  const expected = new Ledger();
  const receipts: { role: Role; receipt: TransactionReceipt }[] = [];

  const send = async (
    step: string,
    r: Role,
    tx: Promise<ContractTransactionResponse | TransactionResponse>,
  ): Promise<TransactionReceipt> => {
    const response = await tx;
    const receipt = await response.wait();
    if (receipt === null || receipt.status !== 1) throw new SmokeError(`${step} ${response.hash} reverted`);
    receipts.push({ role: r, receipt });
    expected.add(r.address, -receipt.fee);
    return receipt;
  };
  let merchantBalance = merchantBefore;
  /** Compares the merchant's balance in the contract at the receipt's block with the expected change. */
  const merchantCheck = async (receipt: TransactionReceipt, change: bigint): Promise<string> => {
    const now = await processor.balanceOf(merchant.address, ETH, { blockTag: receipt.blockNumber });
    const actual = now - merchantBalance;
    merchantBalance = now;
    if (actual !== change) {
      const failure = `merchant's balance in the contract changed by ${signedEth(actual)}, expected ${signedEth(change)}`;
      failures.push(failure);
      return `MISMATCH ${failure}`;
    }
    return `ok: merchant's balance ${signedEth(change)} → ${eth(now)}`;
  };
  const eventCheck = (receipt: TransactionReceipt, name: string, want: Record<string, unknown>): string => {
    for (const log of receipt.logs) {
      if (log.address !== processorAddress) continue;
      const parsed = processor.interface.parseLog(log);
      if (parsed?.name !== name) continue;
      const bad = Object.entries(want).filter(([k, v]) => String(parsed.args[k]) !== String(v));
      if (bad.length === 0) return "";
      const failure = `${name} has ${bad.map(([k]) => `${k}=${String(parsed.args[k])}`).join(", ")}, expected ${bad.map(([k, v]) => `${k}=${String(v)}`).join(", ")}`;
      failures.push(failure);
      return `; MISMATCH ${failure}`;
    }
    failures.push(`no ${name} event in ${receipt.hash}`);
    return `; MISMATCH no ${name} event`;
  };
  const line = (step: string, receipt: TransactionReceipt, result: string) =>
    console.log(`${step.padEnd(16)} ${receipt.hash}  gas ${gas(receipt.gasUsed).padStart(7)}  ${result}`);

  console.log("");

  // 1. pay
  const payTx = await send(
    "pay",
    payer,
    processor.connect(payer.signer).pay(merchant.address, orderId, { value: amount }),
  );
  expected.add(payer.address, -amount);
  expected.add(processorAddress, amount);
  line(
    "1  pay",
    payTx,
    (await merchantCheck(payTx, amount)) +
      eventCheck(payTx, "PaymentReceived", {
        merchant: merchant.address,
        orderId,
        payer: payer.address,
        token: ETH,
        amount,
      }),
  );

  // 2a. a plain transfer to the deposit address: no data, 21,000 gas
  const transferTx = await send(
    "transfer",
    payer,
    payer.signer.sendTransaction({ to: deposit, value: amount, gasLimit: 21_000n }),
  );
  expected.add(payer.address, -amount);
  const depositHeld = await provider.getBalance(deposit, transferTx.blockNumber);
  {
    const problems: string[] = [];
    if (transferTx.gasUsed !== 21_000n) problems.push(`used ${gas(transferTx.gasUsed)} gas, not 21,000`);
    if (depositHeld !== amount)
      problems.push(`deposit address holds ${eth(depositHeld)}, expected ${eth(amount)}`);
    failures.push(...problems.map((p) => `plain transfer ${p}`));
    line(
      "2a transfer",
      transferTx,
      problems.length === 0
        ? `ok: deposit address holds ${eth(depositHeld)}`
        : `MISMATCH ${problems.join("; ")}`,
    );
  }

  // 2b. a stranger sweeps it
  const sweepTx = await send(
    "sweepOrder",
    sweeper,
    processor.connect(sweeper.signer).sweepOrder(merchant.address, orderId, ETH),
  );
  expected.add(processorAddress, amount);
  const depositAfter = await provider.getBalance(deposit, sweepTx.blockNumber);
  const depositCode = await provider.getCode(deposit, sweepTx.blockNumber);
  let sweepResult =
    (await merchantCheck(sweepTx, amount)) +
    eventCheck(sweepTx, "PaymentReceived", {
      merchant: merchant.address,
      orderId,
      payer: deposit,
      token: ETH,
      amount,
    });
  if (depositAfter !== 0n || depositCode !== "0x") {
    const failure = `deposit address after the sweep holds ${eth(depositAfter)} and ${(depositCode.length - 2) / 2} bytes of code, expected none`;
    failures.push(failure);
    sweepResult += `; MISMATCH ${failure}`;
  }
  line("2b sweepOrder", sweepTx, sweepResult);

  // 3. withdraw
  const withdrawTx = await send(
    "withdraw",
    merchant,
    processor.connect(merchant.signer).withdraw(ETH, withdrawAmount, merchant.address),
  );
  expected.add(processorAddress, -withdrawAmount);
  expected.add(merchant.address, withdrawAmount);
  line(
    "3  withdraw",
    withdrawTx,
    (await merchantCheck(withdrawTx, -withdrawAmount)) +
      eventCheck(withdrawTx, "Withdrawn", {
        merchant: merchant.address,
        token: ETH,
        to: merchant.address,
        amount: withdrawAmount,
      }),
  );

  // 4. refund part of the order
  const refundTx = await send(
    "refund",
    merchant,
    processor.connect(merchant.signer).refund(ETH, orderId, payer.address, refundAmount),
  );
  expected.add(processorAddress, -refundAmount);
  expected.add(payer.address, refundAmount);
  line(
    "4  refund",
    refundTx,
    (await merchantCheck(refundTx, -refundAmount)) +
      eventCheck(refundTx, "Refunded", {
        merchant: merchant.address,
        orderId,
        token: ETH,
        to: payer.address,
        amount: refundAmount,
      }),
  );

  // --- Summary --------------------------------------------------------------------------------------
  const endBlock = refundTx.blockNumber;
  console.log(`\nsummary: balances at block ${startBlock} and at block ${endBlock}`);
  const seen = new Set<string>();
  for (const [i, t] of tracked.entries()) {
    if (seen.has(t.address)) continue; // roles sharing an account: one line, the ledger sums them
    seen.add(t.address);
    const labels = tracked
      .filter((u) => u.address === t.address)
      .map((u) => u.label)
      .join("+");
    const before = walletsBefore[i]!;
    const after = await provider.getBalance(t.address, endBlock);
    const change = after - before;
    const want = expected.expected(t.address);
    const ok = change === want;
    if (!ok)
      failures.push(`${labels} ${t.address} changed by ${signedEth(change)}, expected ${signedEth(want)}`);
    console.log(
      `  ${labels.padEnd(16)} ${t.address}  ${eth(before)} → ${eth(after)}  ${signedEth(change)}` +
        (ok ? "  ok" : `  MISMATCH expected ${signedEth(want)}`),
    );
  }
  const merchantAfter = await processor.balanceOf(merchant.address, ETH, { blockTag: endBlock });
  const contractOk = merchantAfter === merchantBefore;
  if (!contractOk) {
    failures.push(
      `merchant's balance in the contract went ${eth(merchantBefore)} → ${eth(merchantAfter)}, expected no net change`,
    );
  }
  console.log(
    `  ${"merchant in contract".padEnd(16)} balanceOf(merchant, ETH)  ${eth(merchantBefore)} → ${eth(merchantAfter)}` +
      (contractOk
        ? "  ok (credited 2 × amount, withdrew and refunded as much)"
        : "  MISMATCH expected no net change"),
  );

  const totalGas = receipts.reduce((sum, r) => sum + r.receipt.gasUsed, 0n);
  const totalFee = receipts.reduce((sum, r) => sum + r.receipt.fee, 0n);
  const byRole = [payer, sweeper, merchant]
    .map(
      (r) =>
        `${r.name} ${gas(receipts.filter((x) => x.role === r).reduce((s, x) => s + x.receipt.gasUsed, 0n))}`,
    )
    .join(", ");
  console.log(
    `  gas: ${receipts.length} transactions, ${gas(totalGas)} gas (${byRole}), ${eth(totalFee)} in fees`,
  );
  if (failures.length === 0) console.log(`\nsmoke test passed on ${networkName} (chain ${chainId})`);
  return failures;
}

function parseAmount(parseEther: (value: string) => bigint, value: string): bigint {
  let wei: bigint;
  try {
    wei = parseEther(value);
  } catch {
    throw new SmokeError(`--amount must be a decimal ETH amount, got "${value}"`);
  }
  if (wei < 2n) throw new SmokeError("--amount must be at least 2 wei (half of it is refunded)");
  return wei;
}

type Connection = Awaited<ReturnType<HardhatRuntimeEnvironment["network"]["create"]>>;

/** The PaymentProcessor to test: `--deployment` (an address or an Ignition directory), else an Ignition deployment. */
async function resolveProcessor(
  args: SmokeArgs,
  hre: HardhatRuntimeEnvironment,
  connection: Connection,
): Promise<string> {
  const { ethers, networkName } = connection;
  if (args.deployment !== "") {
    if (ethers.isAddress(args.deployment)) {
      console.log(`  using     ${ethers.getAddress(args.deployment)} (--deployment)`);
      return ethers.getAddress(args.deployment);
    }
    const file = path.resolve(args.deployment, "deployed_addresses.json");
    const address = await readDeployedProcessor(file);
    if (address === undefined) {
      throw new SmokeError(`--deployment ${args.deployment}: no "${PROCESSOR_KEY}" in ${file}`);
    }
    console.log(`  using     ${path.relative(hre.config.paths.root, path.dirname(file))} (--deployment)`);
    return address;
  }

  const deploymentId = args.fresh
    ? `smoke-${networkName}-${Math.floor(Date.now() / 1000)}`
    : args.deploymentId !== ""
      ? args.deploymentId
      : `smoke-${networkName}`;
  const dir = path.join(hre.config.paths.ignition, "deployments", deploymentId);
  const relative = path.relative(hre.config.paths.root, dir);
  const recorded = await readDeployedProcessor(path.join(dir, "deployed_addresses.json"));
  if (recorded !== undefined && (await ethers.provider.getCode(recorded)) === "0x") {
    throw new SmokeError(
      `${relative} records ${recorded}, which has no code on this chain (a restarted local node?): ` +
        "delete that directory or pass --fresh",
    );
  }
  const { paymentProcessor } = await connection.ignition.deploy(EthereumPosModule, { deploymentId });
  const address = await paymentProcessor.getAddress();
  if (recorded !== undefined) {
    console.log(`  deployed  earlier: ${relative} (Ignition; --fresh deploys anew)`);
  } else {
    const deployTx = await findDeploymentTransaction(dir);
    const receipt = deployTx === undefined ? null : await ethers.provider.getTransactionReceipt(deployTx);
    console.log(
      `  deployed  ${relative} (Ignition ${PROCESSOR_KEY})` +
        (receipt === null ? "" : `\n            tx ${receipt.hash}  gas ${gas(receipt.gasUsed)}`),
    );
  }
  return address;
}

async function readDeployedProcessor(file: string): Promise<string | undefined> {
  try {
    await access(file);
  } catch {
    return undefined;
  }
  const deployed = JSON.parse(await readFile(file, "utf8")) as Record<string, string>;
  return deployed[PROCESSOR_KEY];
}

/** The hash of the processor's deployment transaction, from the Ignition journal. */
async function findDeploymentTransaction(dir: string): Promise<string | undefined> {
  try {
    const lines = (await readFile(path.join(dir, "journal.jsonl"), "utf8")).split("\n");
    for (const l of lines) {
      if (l.trim() === "") continue;
      const entry = JSON.parse(l) as { type?: string; futureId?: string; transaction?: { hash?: string } };
      if (entry.type === "TRANSACTION_SEND" && entry.futureId === PROCESSOR_KEY)
        return entry.transaction?.hash;
    }
  } catch {
    // no journal: no hash to show
  }
  return undefined;
}
