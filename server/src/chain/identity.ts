import type { PublicClient } from "viem";
import type { Db, Queryable } from "../db/types.ts";

export interface ChainIdentity {
  chainId: bigint;
  genesisHash: string;
  contract: string;
}

export async function readChainIdentity(client: PublicClient, contract: string): Promise<ChainIdentity> {
  const [chainId, genesis] = await Promise.all([client.getChainId(), client.getBlock({ blockNumber: 0n })]);
  return { chainId: BigInt(chainId), genesisHash: genesis.hash, contract: contract.toLowerCase() };
}

/** `meta` keys of one chain's identity (migration 040 moved the single-chain keys here). */
const keysOf = (chainId: bigint) => ({
  genesisHash: `chain.${chainId}.genesis_hash`,
  contract: `chain.${chainId}.contract`,
});
/** `meta` key of the last reset of dev chain data: `{"at": ISO time, "reason": "…"}`. */
const LAST_RESET_KEY = "dev.last_chain_reset";

export interface ChainReset {
  at: Date;
  /** What changed, e.g. `chain 31337: chain.genesis_hash 0x12… → 0x34…`. */
  reason: string;
}

/** Deletes everything derived from one chain, inside the caller's transaction (see runtime/reset.ts). */
export type DeleteChainData = (tx: Queryable, chainId: bigint) => Promise<void>;

/**
 * Makes sure the rows of this chain in the database were filled from this very chain (genesis) and
 * contract. A local dev chain is ephemeral: when `resetOnMismatch` is set (embedded defaults), that
 * chain's data is deleted with a clear log line and the reset is recorded; otherwise start-up is
 * refused with instructions, so two chains never mix. Other chains' rows are never touched.
 */
export async function ensureChainIdentity(
  db: Db,
  identity: ChainIdentity,
  options: { resetOnMismatch: boolean; log: (message: string) => void; deleteChainData: DeleteChainData },
): Promise<ChainReset | undefined> {
  const keys = keysOf(identity.chainId);
  const { rows } = await db.query<{ key: string; value: string }>(
    "SELECT key, value FROM meta WHERE key = ANY($1::text[])",
    [[keys.genesisHash, keys.contract]],
  );
  const stored = new Map(rows.map((r) => [r.key, r.value]));
  const expected: [key: string, label: string, value: string][] = [
    [keys.genesisHash, "chain.genesis_hash", identity.genesisHash],
    [keys.contract, "chain.contract", identity.contract],
  ];
  let reset: ChainReset | undefined;
  const mismatches = expected.filter(([key, , value]) => stored.has(key) && stored.get(key) !== value);
  if (mismatches.length > 0) {
    const what = `chain ${identity.chainId}: ${mismatches
      .map(([key, label, value]) => `${label} ${stored.get(key)} → ${value}`)
      .join(", ")}`;
    if (!options.resetOnMismatch) {
      throw new Error(
        `the database holds data from another chain or contract (${what}). Point DATABASE_URL at a fresh database, ` +
          "or reset this one with `npm run db:reset` if its data is disposable.",
      );
    }
    options.log(`database was filled from another chain (${what}); resetting dev chain data`);
    reset = { at: new Date(), reason: what };
    await resetChainData(db, [identity.chainId], options.deleteChainData, reset);
  }
  await db.transaction(async (tx) => {
    for (const [key, , value] of expected) {
      await tx.query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [key, value],
      );
    }
  });
  return reset;
}

/** The chains whose data the database holds, by their recorded identity. */
export async function knownChains(db: Queryable): Promise<bigint[]> {
  const { rows } = await db.query<{ key: string }>(
    "SELECT key FROM meta WHERE key LIKE 'chain.%.genesis_hash'",
  );
  return rows.map((r) => BigInt(r.key.split(".")[1] as string));
}

/**
 * Deletes everything derived from the given chains in one transaction, forgets their identity and
 * records the reset (see `lastChainReset`). Merchants, their keys and plugins stay.
 */
export async function resetChainData(
  db: Db,
  chainIds: readonly bigint[],
  deleteChainData: DeleteChainData,
  reset: ChainReset = { at: new Date(), reason: "reset by hand" },
): Promise<void> {
  await db.transaction(async (tx) => {
    for (const chainId of chainIds) {
      await deleteChainData(tx, chainId);
      const keys = keysOf(chainId);
      await tx.query("DELETE FROM meta WHERE key = ANY($1::text[])", [[keys.genesisHash, keys.contract]]);
    }
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
