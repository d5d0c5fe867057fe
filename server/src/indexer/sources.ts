import type { LogFilter } from "./rpc.ts";
import type { BlockRef, RawLog, Source } from "./types.ts";

/** The logs to fetch for a set of sources, and which source decodes each one. */
export interface Selection<E> extends LogFilter {
  sourceFor(log: RawLog): Source<E> | undefined;
}

/**
 * Combines the sources into one eth_getLogs filter (every address, every topic0) and a router
 * that hands each log to the source that follows its address and topic0. Sources with a fixed
 * address list are resolved once; a source with an address function is asked on every call.
 */
export function createSelector<E>(sources: readonly Source<E>[]): () => Promise<Selection<E>> {
  const build = (resolved: readonly (readonly string[])[]): Selection<E> => {
    const routes = new Map<string, Map<string, Source<E>>>(); // address → topic0 → source
    const address = new Set<string>();
    const topics = new Set<string>();
    sources.forEach((source, i) => {
      const addresses = resolved[i] ?? [];
      if (addresses.length === 0) return;
      for (const raw of addresses) {
        const a = raw.toLowerCase();
        address.add(a);
        const byTopic = routes.get(a) ?? new Map<string, Source<E>>();
        for (const t of source.topics)
          if (!byTopic.has(t.toLowerCase())) byTopic.set(t.toLowerCase(), source);
        routes.set(a, byTopic);
      }
      for (const t of source.topics) topics.add(t.toLowerCase());
    });
    return {
      address: [...address],
      topics: [...topics],
      sourceFor: (log) => routes.get(log.address.toLowerCase())?.get((log.topics[0] ?? "").toLowerCase()),
    };
  };
  const isStatic = sources.every((s) => typeof s.addresses !== "function");
  if (isStatic) {
    const fixed = build(sources.map((s) => s.addresses as readonly string[]));
    return () => Promise.resolve(fixed);
  }
  return async () =>
    build(
      await Promise.all(
        sources.map((s) => (typeof s.addresses === "function" ? s.addresses() : s.addresses)),
      ),
    );
}

/**
 * Decodes logs with their sources, in the order given (chain order), taking each block's timestamp
 * from `known` headers, from the log itself, or else from a header fetched with `headers`.
 */
export async function decodeLogs<E>(
  selection: Selection<E>,
  chainId: bigint,
  logs: readonly RawLog[],
  known: readonly BlockRef[],
  headers: (numbers: readonly bigint[]) => Promise<Map<bigint, BlockRef>>,
): Promise<E[]> {
  const timestamps = new Map<string, Date>(known.map((b) => [`0x${b.number.toString(16)}`, b.timestamp]));
  const missing = new Set<bigint>();
  for (const l of logs) {
    if (timestamps.has(l.blockNumber)) continue;
    if (l.blockTimestamp) timestamps.set(l.blockNumber, new Date(Number(l.blockTimestamp) * 1000));
    else missing.add(BigInt(l.blockNumber));
  }
  if (missing.size > 0) {
    for (const b of (await headers([...missing])).values()) {
      timestamps.set(`0x${b.number.toString(16)}`, b.timestamp);
    }
  }
  const events: E[] = [];
  for (const l of logs) {
    const source = selection.sourceFor(l);
    if (!source) continue; // an address × topic pair of the combined filter that no source follows
    const event = source.decode(l, { chainId, blockTimestamp: timestamps.get(l.blockNumber) as Date });
    if (event !== undefined) events.push(event);
  }
  return events;
}
