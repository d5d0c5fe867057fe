// `npm run deploy -- --network <preset>` (task definition: scripts/lib/deploy-task.ts; documentation:
// docs/chains.md and README, "Running against a real network").
//
// On a preset network (base-sepolia, ethereum, …; hardhat.config.ts defines one per preset, with its
// chain id) it:
//
//   1. deploys EthereumPos through Hardhat Ignition with the network's key, and allowlists the preset's
//      tokens (ignition/modules/Network.ts), under the deployment id chain-<id> (which the server reads
//      by itself) unless --deployment-id names another;
//   2. verifies the contracts on the chain's block explorer when ETHERSCAN_API_KEY is set; without a key,
//      or when the explorer cannot be reached, it says so and how to verify later, and goes on;
//   3. prints the lines that start the server against the deployment: the preset's CHAINS name, the RPC URL
//      from the keystore (never printed itself), the start block, and what the preset does not ship.
//
// The RPC URL and the key are configuration variables (<PRESET>_RPC_URL, <PRESET>_PRIVATE_KEY, e.g.
// BASE_SEPOLIA_RPC_URL): Hardhat's keystore first, then the environment.
import { readFile } from "node:fs/promises";
import path from "node:path";

import { configVariable } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { networkModule } from "../ignition/modules/Network.ts";
import { chainPrefix } from "../server/src/config/chains.ts";
import {
  CHAINLINK_FEEDS_URL,
  CHAINLINK_SEQUENCER_FEEDS_URL,
  findPreset,
  PRESET_NAMES,
} from "../server/src/config/presets.ts";

export interface DeployArgs {
  deploymentId: string;
  noVerify: boolean;
}

const PROCESSOR_KEY = "EthereumPos#PaymentProcessor";

/** A problem found before or while deploying, reported as one line without a stack trace. */
class DeployError extends Error {}

/** `base-sepolia` → `BASE_SEPOLIA`: the prefix of a preset network's configuration variables. */
export const presetVariable = (name: string): string => name.toUpperCase().replace(/-/g, "_");

/** Reads an optional configuration variable: keystore first, then the environment; "" when unset. */
async function optionalConfigVariable(hre: HardhatRuntimeEnvironment, name: string): Promise<string> {
  return hre.hooks.runHandlerChain(
    "configurationVariables",
    "fetchValue",
    [configVariable(name, { default: "" })],
    async (_context, variable) => process.env[variable.name] ?? "",
  );
}

export default async function deploy(args: DeployArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  try {
    await run(args, hre);
  } catch (error) {
    const e = error as Error & { shortMessage?: string };
    console.error(`\nerror: ${e instanceof DeployError ? e.message : (e.shortMessage ?? e.message)}`);
    console.log("deploy FAILED");
    process.exitCode = 1;
  }
}

async function run(args: DeployArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  const connection = await hre.network.create();
  const { ethers, networkName } = connection;
  const preset = findPreset(networkName);
  if (preset === undefined) {
    throw new DeployError(
      `--network ${networkName} is no preset network; deploy with --network one of ${PRESET_NAMES.join(", ")} ` +
        "(or use `npx hardhat ignition deploy ignition/modules/EthereumPos.ts` for another network)",
    );
  }
  const { chainId } = await ethers.provider.getNetwork();
  if (chainId !== BigInt(preset.chain.id)) {
    throw new DeployError(
      `the RPC URL of --network ${networkName} reaches chain ${chainId}, not ${preset.chain.name} (${preset.chain.id}); ` +
        `set ${presetVariable(networkName)}_RPC_URL to a ${preset.chain.name} endpoint`,
    );
  }
  const [deployer] = await ethers.getSigners();
  if (deployer === undefined) {
    throw new DeployError(
      `no deploying account: \`npx hardhat keystore set ${presetVariable(networkName)}_PRIVATE_KEY\``,
    );
  }
  const deploymentId = args.deploymentId === "" ? `chain-${chainId}` : args.deploymentId;
  const dir = path.join(hre.config.paths.ignition, "deployments", deploymentId);
  const relative = path.relative(hre.config.paths.root, dir);
  console.log(
    `deploying EthereumPos to ${networkName} (${preset.chain.name}, chain ${chainId}) from ${deployer.address}`,
  );
  for (const token of preset.tokens) {
    console.log(`  allowlisting ${token.symbol} ${token.address} (preset ${preset.name})`);
  }

  // 1. Ignition: the contracts, then the preset's tokens on the allowlist.
  const { paymentProcessor, subscriptions } = await connection.ignition.deploy(networkModule(preset.tokens), {
    deploymentId,
  });
  const processorAddress = await paymentProcessor.getAddress();
  const deployTx = await findDeploymentTransaction(dir);
  const receipt = deployTx === undefined ? null : await ethers.provider.getTransactionReceipt(deployTx);
  console.log(`\ndeployed ${relative} (Hardhat Ignition)`);
  console.log(
    `  PaymentProcessor ${processorAddress}` + (receipt === null ? "" : `  (block ${receipt.blockNumber})`),
  );
  console.log(`  Subscriptions    ${await subscriptions.getAddress()}`);

  // 2. Verification on the explorer.
  const retry = `npx hardhat ignition verify ${deploymentId} --network ${networkName}`;
  if (args.noVerify) {
    console.log(`  verification skipped (--no-verify); later: ${retry}`);
  } else if ((await optionalConfigVariable(hre, "ETHERSCAN_API_KEY")) === "") {
    console.log(
      "  verification skipped: no ETHERSCAN_API_KEY; set it with `npx hardhat keystore set ETHERSCAN_API_KEY`, " +
        `then run ${retry}`,
    );
  } else {
    await verify(hre, dir, retry);
  }

  // 3. How to start the server against it.
  const p = chainPrefix(preset.name);
  const rpcVariable = `${presetVariable(networkName)}_RPC_URL`;
  // The URL often carries a provider's key: it is never printed, only where to read it from.
  const rpcFrom =
    process.env[rpcVariable] !== undefined
      ? `"$${rpcVariable}"`
      : `"$(npx hardhat keystore get ${rpcVariable})"`;
  const lines = [`export CHAINS=${preset.name}`, `export ${p}RPC_URL=${rpcFrom}`];
  // chain-<id> is read by the server by itself; another deployment id is named.
  if (deploymentId !== `chain-${chainId}`) lines.push(`export ${p}CONTRACT_ADDRESS=${processorAddress}`);
  // The server would otherwise look for the deployment block itself, which needs an archive node.
  if (receipt !== null) lines.push(`export ${p}START_BLOCK=${receipt.blockNumber}`);
  const notes: string[] = [];
  if (preset.nativeUsdFeed === undefined) {
    const coin = preset.chain.nativeCurrency.symbol;
    notes.push(
      `# preset ${preset.name} ships no ${coin}/USD feed (docs/chains.md): set the chain's Chainlink ${coin}/USD feed from ${CHAINLINK_FEEDS_URL}`,
      `export ${p}PRICE_FEED_ADDRESS=0x…`,
    );
  }
  if (preset.l2 && preset.sequencerUptimeFeed === undefined) {
    notes.push(
      `# optional: the L2 sequencer uptime feed (${CHAINLINK_SEQUENCER_FEEDS_URL})`,
      `# export ${p}SEQUENCER_UPTIME_FEED_ADDRESS=0x…`,
    );
  }
  console.log("\nStart the server against this deployment:\n");
  for (const line of [...lines, ...notes, "export DATABASE_URL=postgres://…", "npm run serve"]) {
    console.log(`  ${line}`);
  }
}

/** Verifies every contract of the deployment on Etherscan (its v2 API serves every preset chain). */
async function verify(hre: HardhatRuntimeEnvironment, dir: string, retry: string): Promise<void> {
  const { verifyContract } = await import("@nomicfoundation/hardhat-verify/verify");
  const { getVerificationInformation } = await import("@nomicfoundation/ignition-core");
  for await (const info of getVerificationInformation(dir)) {
    if (typeof info === "string") {
      console.log(`  verification of ${info} skipped: its build artifacts were not found`);
      continue;
    }
    try {
      await verifyContract({ ...info, provider: "etherscan" }, hre);
      console.log(`  verified ${info.contract} at ${info.address}`);
    } catch (error) {
      console.log(`  ${describeVerificationFailure(error)}; later: ${retry}`);
      if (isUnreachable(error)) return; // the others would fail the same way
    }
  }
}

/** True when an error says the explorer could not be reached at all (no network, DNS, refused, timeout). */
export function isUnreachable(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as Error & { code?: string }).code ?? "";
    if (
      /^(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|UND_ERR_CONNECT_TIMEOUT)$/.test(
        code,
      ) ||
      /fetch failed|getaddrinfo|ECONNREFUSED|ENOTFOUND|network request failed|timed? ?out/i.test(e.message)
    ) {
      return true;
    }
  }
  return false;
}

/** One line for a failed verification: the explorer unreachable, or what it answered. */
export function describeVerificationFailure(error: unknown): string {
  const message = (error as Error).message?.split("\n")[0] ?? String(error);
  return isUnreachable(error)
    ? `verification skipped: the block explorer is unreachable (${message})`
    : `verification failed: ${message}`;
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
    // no journal: no block to print
  }
  return undefined;
}
