// Pure helpers of the smoke test (scripts/smoke.ts): deposit address derivation, the expected-balance
// ledger and the formatting of amounts. No network access here.
import { AbiCoder, getAddress, getCreate2Address, keccak256, formatEther } from "ethers";

/** `depositInitCodeHash()` as documented in docs/contracts.md; the smoke test checks the chain against it. */
export const DEPOSIT_INIT_CODE_HASH = "0x170705579b341e4926d5292dd690808fce74db546893c036007040cab888b4b4";

/**
 * The deposit address of (merchant, orderId) on a chain, derived off-chain exactly as docs/contracts.md
 * documents it:
 *   salt    = keccak256(abi.encode(merchant, orderId, chainId))
 *   deposit = keccak256(0xff ++ processor ++ salt ++ INIT_CODE_HASH)[12:]
 */
export function deriveDepositAddress(
  processor: string,
  merchant: string,
  orderId: string,
  chainId: bigint,
  initCodeHash: string = DEPOSIT_INIT_CODE_HASH,
): string {
  const salt = keccak256(
    AbiCoder.defaultAbiCoder().encode(["address", "bytes32", "uint256"], [merchant, orderId, chainId]),
  );
  return getCreate2Address(processor, salt, initCodeHash);
}

/** Expected ETH balance changes per address, summed, so that roles sharing one account add up. */
export class Ledger {
  readonly #deltas = new Map<string, bigint>();

  add(address: string, amount: bigint): void {
    const key = getAddress(address);
    this.#deltas.set(key, (this.#deltas.get(key) ?? 0n) + amount);
  }

  expected(address: string): bigint {
    return this.#deltas.get(getAddress(address)) ?? 0n;
  }
}

/** "0.0001 ETH", exact (formatEther never rounds). */
export function eth(wei: bigint): string {
  return `${formatEther(wei)} ETH`;
}

/** "+0.0001 ETH" / "-0.0001 ETH" / "0 ETH". */
export function signedEth(wei: bigint): string {
  if (wei === 0n) return "0 ETH";
  return wei > 0n ? `+${eth(wei)}` : `-${eth(-wei)}`;
}

/** 48731 → "48,731" (gas figures, as docs/contracts.md writes them). */
export function gas(value: bigint): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Parses an order reference the way the merchant CLI does: a full 0x bytes32 or a decimal uint256. */
export function parseOrderId(id: string): string {
  if (/^0x[0-9a-fA-F]{64}$/.test(id)) return id.toLowerCase();
  if (/^\d+$/.test(id)) {
    const value = BigInt(id);
    if (value < 2n ** 256n) return `0x${value.toString(16).padStart(64, "0")}`;
  }
  throw new Error(`--order-id must be a 0x bytes32 (64 hex digits) or a decimal uint256, got "${id}"`);
}
