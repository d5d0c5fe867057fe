import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PublicClient } from "viem";
import { ConfigError } from "../lib/errors.ts";

export const IGNITION_DEPLOYMENTS_DIR = fileURLToPath(
  new URL("../../../ignition/deployments", import.meta.url),
);

/** Chain ids of local development nodes (Hardhat, Anvil, Ganache): every such node reports one of them. */
export const LOCAL_CHAIN_IDS: ReadonlySet<bigint> = new Set([31337n, 1337n]);

export interface IgnitionAddresses {
  paymentProcessor?: `0x${string}`;
  /** Recurring token pulls, bound to that PaymentProcessor. */
  subscriptions?: `0x${string}`;
  stablecoin?: `0x${string}`;
  priceFeed?: `0x${string}`;
  multicall3?: `0x${string}`;
}

/**
 * The Ignition deployment directory a server reads for a chain, or none. `configured` (the chain's
 * IGNITION_DEPLOYMENT_DIR) wins. Otherwise a public chain's is Ignition's own
 * `ignition/deployments/chain-<id>`, as `ignition deploy --network <name>` writes it. A local chain
 * id names no one node: every Hardhat node is chain 31337 (the dev stack's, each test's, one
 * started by hand), so a local chain reads only a directory named explicitly, as `npm start` names
 * its own. Without that rule a server under test would take the dev stack's mock USDC and feed.
 */
export function ignitionDeploymentDir(chainId: bigint, configured: string | undefined): string | undefined {
  if (configured !== undefined) return configured;
  return LOCAL_CHAIN_IDS.has(chainId) ? undefined : `${IGNITION_DEPLOYMENTS_DIR}/chain-${chainId}`;
}

/**
 * Reads the addresses Hardhat Ignition recorded in a deployment directory: none without a
 * directory or when it holds no deployment, unless `required` (the directory was named
 * explicitly), which makes a missing deployment a configuration error naming `setting`.
 */
export function readIgnitionDeployment(
  dir: string | undefined,
  required?: { setting: string },
): IgnitionAddresses {
  if (dir === undefined) return {};
  const file = `${dir}/deployed_addresses.json`;
  if (!existsSync(file)) {
    if (!required) return {};
    throw new ConfigError(
      `${required.setting} is ${dir} but it holds no deployed_addresses.json; ` +
        "point it at an Ignition deployment directory (ignition/deployments/<deployment id>) or unset it",
    );
  }
  const addresses = JSON.parse(readFileSync(file, "utf8")) as Record<string, `0x${string}`>;
  return {
    paymentProcessor: addresses["EthereumPos#PaymentProcessor"],
    subscriptions: addresses["EthereumPos#Subscriptions"],
    stablecoin: addresses["LocalDev#MockStablecoin"],
    priceFeed: addresses["LocalDev#MockV3Aggregator"],
    multicall3: addresses["LocalDev#Multicall3"],
  };
}

/**
 * Finds the block a contract was deployed in by binary search over eth_getCode. It needs a node
 * that serves historical state (archive, or any local node); otherwise set START_BLOCK.
 */
export async function findDeploymentBlock(client: PublicClient, address: `0x${string}`): Promise<bigint> {
  const head = await client.getBlockNumber();
  const codeAt = async (blockNumber: bigint) => {
    const code = await client.getCode({ address, blockNumber });
    return code !== undefined && code !== "0x";
  };
  if (!(await codeAt(head))) throw new Error(`no contract code at ${address} on this chain`);
  let low = 0n;
  let high = head;
  while (low < high) {
    const mid = (low + high) / 2n;
    if (await codeAt(mid)) high = mid;
    else low = mid + 1n;
  }
  return low;
}
