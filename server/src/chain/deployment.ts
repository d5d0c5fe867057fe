import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PublicClient } from "viem";

export const IGNITION_DEPLOYMENTS_DIR = fileURLToPath(
  new URL("../../../ignition/deployments", import.meta.url),
);

export interface IgnitionAddresses {
  paymentProcessor?: `0x${string}`;
  /** Recurring token pulls, bound to that PaymentProcessor. */
  subscriptions?: `0x${string}`;
  stablecoin?: `0x${string}`;
  priceFeed?: `0x${string}`;
  multicall3?: `0x${string}`;
}

/**
 * Reads the addresses Hardhat Ignition recorded for a chain, if any: its default deployment
 * (`chain-<id>`), or the one named `deploymentId` (`--deployment-id`).
 */
export function readIgnitionDeployment(
  chainId: number,
  dir = IGNITION_DEPLOYMENTS_DIR,
  deploymentId = `chain-${chainId}`,
): IgnitionAddresses {
  const file = `${dir}/${deploymentId}/deployed_addresses.json`;
  if (!existsSync(file)) return {};
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
