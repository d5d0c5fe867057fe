import { encodeAbiParameters, getContractAddress, keccak256, type PublicClient } from "viem";
import { isTransportFailure } from "../indexer/rpc.ts";
import { ConfigError, firstLine } from "../lib/errors.ts";
import { depositsAbi } from "./abi.ts";

/**
 * keccak256 of the deposit init code in contracts/payments/PaymentProcessor.sol
 * (`_DEPOSIT_INIT_CODE`). The runtime reads `depositInitCodeHash()` from the deployed contract at
 * start and refuses to run on another value: every derived address would be wrong.
 */
export const DEPOSIT_INIT_CODE_HASH = "0x170705579b341e4926d5292dd690808fce74db546893c036007040cab888b4b4";

/** `keccak256(abi.encode(merchant, orderId, chainId))`, as the contract's `_depositSalt`. */
export function depositSalt(merchant: string, orderRef: `0x${string}`, chainId: bigint): `0x${string}` {
  return keccak256(
    encodeAbiParameters(
      [{ type: "address" }, { type: "bytes32" }, { type: "uint256" }],
      [merchant as `0x${string}`, orderRef, chainId],
    ),
  );
}

/** How one chain derives deposit addresses: its PaymentProcessor, chain id and init code hash. */
export interface DepositDerivation {
  processor: `0x${string}`;
  chainId: bigint;
  initCodeHash: `0x${string}`;
}

/**
 * The deposit address of (merchant, orderRef) on a chain, off-chain and without a call:
 * `keccak256(0xff ++ processor ++ salt ++ initCodeHash)[12:]`. Lowercase.
 */
export function depositAddress(d: DepositDerivation, merchant: string, orderRef: `0x${string}`): string {
  return getContractAddress({
    opcode: "CREATE2",
    from: d.processor,
    salt: depositSalt(merchant, orderRef, d.chainId),
    bytecodeHash: d.initCodeHash,
  }).toLowerCase();
}

/**
 * Reads `depositInitCodeHash()` from the deployed PaymentProcessor and checks it against
 * DEPOSIT_INIT_CODE_HASH: a contract built from other deposit code gets a clear start-up error.
 */
export async function readDepositDerivation(
  client: PublicClient,
  processor: `0x${string}`,
  chainId: bigint,
  what = "CONTRACT_ADDRESS",
): Promise<DepositDerivation> {
  let initCodeHash: `0x${string}`;
  try {
    initCodeHash = await client.readContract({
      address: processor,
      abi: depositsAbi,
      functionName: "depositInitCodeHash",
    });
  } catch (error) {
    // A transport error (a rate limit, a timeout) is no answer: the caller waits it out.
    if (isTransportFailure(error)) throw error;
    throw new ConfigError(
      `${what} ${processor} on chain ${chainId} does not answer depositInitCodeHash() ` +
        `(${firstLine(error)}): it is a PaymentProcessor without deposit addresses; ` +
        "deploy the current contract with Ignition",
    );
  }
  if (initCodeHash.toLowerCase() !== DEPOSIT_INIT_CODE_HASH) {
    throw new ConfigError(
      `${what} ${processor} on chain ${chainId} reports depositInitCodeHash() ${initCodeHash}, but this server derives ` +
        `deposit addresses with ${DEPOSIT_INIT_CODE_HASH}: the contract and the server come from different versions; ` +
        "deploy the contract from this checkout or run the matching server",
    );
  }
  return { processor, chainId, initCodeHash };
}
