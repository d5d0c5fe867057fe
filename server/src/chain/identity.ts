import type { PublicClient } from "viem";
import type { Db } from "../db/types.ts";

export interface ChainIdentity {
  chainId: bigint;
  genesisHash: string;
  contract: string;
}

export async function readChainIdentity(client: PublicClient, contract: string): Promise<ChainIdentity> {
  const [chainId, genesis] = await Promise.all([client.getChainId(), client.getBlock({ blockNumber: 0n })]);
  return { chainId: BigInt(chainId), genesisHash: genesis.hash, contract: contract.toLowerCase() };
}

const KEYS = { chainId: "chain.id", genesisHash: "chain.genesis_hash", contract: "chain.contract" } as const;
/** `meta` key of the last reset of dev chain data: `{"at": ISO time, "reason": "chain.id 1 → 2, …"}`. */
const LAST_RESET_KEY = "dev.last_chain_reset";

export interface ChainReset {
  at: Date;
  /** What changed, e.g. `chain.genesis_hash 0x12… → 0x34…`. */
  reason: string;
}

/**
 * Makes sure the database was filled from this very chain and contract. A local dev chain is
 * ephemeral: when `resetOnMismatch` is set (embedded defaults), chain data is wiped with a clear
 * log line; otherwise start-up is refused with instructions, so two chains never mix.
 */
export async function ensureChainIdentity(
  db: Db,
  identity: ChainIdentity,
  options: { resetOnMismatch: boolean; log: (message: string) => void },
): Promise<ChainReset | undefined> {
  const { rows } = await db.query<{ key: string; value: string }>(
    "SELECT key, value FROM meta WHERE key LIKE 'chain.%'",
  );
  const stored = new Map(rows.map((r) => [r.key, r.value]));
  const expected: [string, string][] = [
    [KEYS.chainId, identity.chainId.toString()],
    [KEYS.genesisHash, identity.genesisHash],
    [KEYS.contract, identity.contract],
  ];
  let reset: ChainReset | undefined;
  const mismatches = expected.filter(([key, value]) => stored.has(key) && stored.get(key) !== value);
  if (mismatches.length > 0) {
    const what = mismatches.map(([key, value]) => `${key} ${stored.get(key)} → ${value}`).join(", ");
    if (!options.resetOnMismatch) {
      throw new Error(
        `the database holds data from another chain or contract (${what}). Point DATABASE_URL at a fresh database, ` +
          "or reset this one with `npm run db:reset` if its data is disposable.",
      );
    }
    options.log(`database was filled from another chain (${what}); resetting dev chain data`);
    reset = { at: new Date(), reason: what };
    await resetChainData(db, reset);
  }
  await db.transaction(async (tx) => {
    for (const [key, value] of expected) {
      await tx.query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [key, value],
      );
    }
  });
  return reset;
}

/**
 * Deletes everything derived from a chain: orders, events, callbacks, indexer state, and the
 * per-merchant daily order counters (they count orders, so they must not outlive them: a plan's
 * daily limit and `transactions_today` would otherwise count orders that no longer exist).
 * Merchants, their keys and plugins stay. The reset itself is recorded (see `lastChainReset`).
 */
export async function resetChainData(
  db: Db,
  reset: ChainReset = { at: new Date(), reason: "reset by hand" },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      "TRUNCATE callback_attempts, callbacks, contract_events, indexer_blocks, indexer_cursor, orders, merchant_daily_orders RESTART IDENTITY CASCADE",
    );
    await tx.query("DELETE FROM meta WHERE key LIKE 'chain.%'");
    await tx.query(
      "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
      [LAST_RESET_KEY, JSON.stringify({ at: reset.at.toISOString(), reason: reset.reason })],
    );
  });
}

/** The last reset of dev chain data, if any (`npm start` reports one that happened at its start). */
export async function lastChainReset(db: Db): Promise<ChainReset | undefined> {
  const { rows } = await db.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [
    LAST_RESET_KEY,
  ]);
  if (!rows[0]) return undefined;
  try {
    const parsed = JSON.parse(rows[0].value) as { at: string; reason: string };
    return { at: new Date(parsed.at), reason: parsed.reason };
  } catch {
    return undefined;
  }
}
