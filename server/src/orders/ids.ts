import { randomInt } from "node:crypto";
import { pad, toHex } from "viem";

/**
 * Order ids are numbers, as in the seed, but random rather than sequential: drawn uniformly by a
 * CSPRNG from [10^9, 2^48), so they cannot be guessed or enumerated, and they stay exact in
 * JSON (well below 2^53) and fit the contract's bytes32 order id.
 */
const MIN_ID = 1_000_000_000;
const MAX_ID = 2 ** 48;

export function newOrderId(): bigint {
  return BigInt(randomInt(MIN_ID, MAX_ID));
}

/** The bytes32 the customer passes to `pay(merchant, orderId)`: the id as a uint256. */
export function orderIdToBytes32(id: bigint): `0x${string}` {
  return pad(toHex(id), { size: 32 });
}

/** The inverse, or undefined when the bytes32 is not one of ours (an orphan payment). */
export function bytes32ToOrderId(ref: `0x${string}`): bigint | undefined {
  const value = BigInt(ref);
  return value >= BigInt(MIN_ID) && value < BigInt(MAX_ID) ? value : undefined;
}
