import { randomBytes, randomInt } from "node:crypto";
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

/**
 * A new order's on-chain reference: the bytes32 passed to `pay(merchant, orderId)` and bound in its
 * deposit address. 16 random bytes (CSPRNG) after 16 zero bytes: it reveals nothing of the API id,
 * so chain data (indexed topics, deposit salts) cannot lead to an order's page or JSON.
 */
export function newOrderReference(): `0x${string}` {
  return `0x${"00".repeat(16)}${randomBytes(16).toString("hex")}`;
}

/**
 * The bytes32 of an id as a uint256: the on-chain reference of orders made before random
 * references (migration 080), which keep it.
 */
export function orderIdToBytes32(id: bigint): `0x${string}` {
  return pad(toHex(id), { size: 32 });
}

/** An order row's on-chain reference (its own, or its id's bytes32 for an older order). */
export function orderReference(order: { id: bigint; reference: string | null }): `0x${string}` {
  return (order.reference as `0x${string}` | null) ?? orderIdToBytes32(order.id);
}
