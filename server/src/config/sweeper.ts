import { inspect } from "node:util";
import type { EnvReader } from "./env.ts";

/**
 * A private key that never shows up in a log, a JSON dump or `console.log(config)`: only
 * `reveal()` gives the key, and only the sweeper calls it (to make its local signing account).
 */
export interface SecretKey {
  reveal(): `0x${string}`;
  toJSON(): string;
  toString(): string;
}

export function secretKey(value: `0x${string}`): SecretKey {
  const redacted = "[redacted private key]";
  return {
    reveal: () => value,
    toJSON: () => redacted,
    toString: () => redacted,
    [inspect.custom]: () => redacted,
  } as SecretKey;
}

/** When and how one chain's sweeper sends `sweepDeposits` (docs/deposits.md, "Sweeper"). */
export interface SweeperConfig {
  /** SWEEPER_PRIVATE_KEY: the gas-only account that sends sweeps. */
  privateKey: SecretKey;
  /** SWEEP_INTERVAL_BLOCKS: at most one new sweep every this many blocks. */
  intervalBlocks: number;
  /**
   * SWEEP_MAX_GAS_SHARE as parts per million of the batch's value (0.05 → 50,000): a batch whose
   * gas × current fee exceeds this share of the ETH value it sweeps is not sent.
   */
  maxGasSharePpm: bigint;
  /** SWEEP_MAX_BATCH: deposits per `sweepDeposits` transaction. */
  maxBatch: number;
  /** SWEEP_STUCK_BLOCKS: a sweep not mined after this many blocks is re-sent with a higher fee (same nonce). */
  stuckBlocks: number;
}

export const SWEEPER_SETTINGS = [
  "SWEEPER_PRIVATE_KEY",
  "SWEEP_INTERVAL_BLOCKS",
  "SWEEP_MAX_GAS_SHARE",
  "SWEEP_MAX_BATCH",
  "SWEEP_STUCK_BLOCKS",
] as const;
export type SweeperSetting = (typeof SWEEPER_SETTINGS)[number];

const PPM = 1_000_000n;

/** "0.05" → 50,000 ppm, exactly (no floating point); undefined when not a share from 0 to 1. */
function sharePpm(value: string): bigint | undefined {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(value);
  if (!match) return undefined;
  const ppm = BigInt(match[1] as string) * PPM + BigInt((match[2] ?? "").padEnd(6, "0"));
  return ppm <= PPM ? ppm : undefined;
}

/**
 * Reads one chain's sweeper settings; `v(setting)` names the variable (SWEEP_MAX_BATCH or
 * CHAIN_BASE_SWEEP_MAX_BATCH). Every setting is checked; the result is undefined when the chain
 * has no SWEEPER_PRIVATE_KEY (no sweeper: deposits wait for anyone's sweep). The key is checked for
 * shape only; the sweeper derives its address.
 */
export function readSweeperConfig(
  r: EnvReader,
  v: (setting: SweeperSetting) => string,
): SweeperConfig | undefined {
  const keyName = v("SWEEPER_PRIVATE_KEY");
  const key = r.raw(keyName);
  let privateKey: SecretKey | undefined;
  if (key !== undefined) {
    const hex = key.startsWith("0x") ? key : `0x${key}`;
    // The value is never echoed: it is a private key.
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
      r.problem(
        `${keyName} must be a private key of 32 bytes in hex (64 hex digits, optionally 0x-prefixed); ` +
          "use a fresh account that holds only gas money",
        keyName,
      );
    } else {
      privateKey = secretKey(hex as `0x${string}`);
    }
  }
  const shareName = v("SWEEP_MAX_GAS_SHARE");
  const shareText = r.raw(shareName) ?? "0.05";
  let maxGasSharePpm = sharePpm(shareText);
  if (maxGasSharePpm === undefined) {
    r.problem(
      `${shareName} must be a share from 0 to 1 with at most 6 decimals (0.05 = gas may cost up to 5 % of what a sweep moves), got "${shareText}"`,
      shareName,
    );
    maxGasSharePpm = 50_000n;
  }
  const policy = {
    intervalBlocks: r.int(v("SWEEP_INTERVAL_BLOCKS"), 1, 1, 1_000_000),
    maxGasSharePpm,
    maxBatch: r.int(v("SWEEP_MAX_BATCH"), 50, 1, 500),
    stuckBlocks: r.int(v("SWEEP_STUCK_BLOCKS"), 10, 1, 100_000),
  };
  return privateKey ? { privateKey, ...policy } : undefined;
}
