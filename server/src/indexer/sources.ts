import type { PublicClient } from "viem";
import { getRawLogs, type LogFilter } from "./rpc.ts";
import type { BlockRef, RawLog, Source, Values } from "./types.ts";

/** Topic values per eth_getLogs request of a source with a topic filter (nodes cap filter sizes). */
export const TOPIC_CHUNK = 1_000;

/** The logs to fetch for a set of sources (one or more filters), and which source decodes each one. */
export interface Selection<E> {
  /** Every filter to ask; their logs together are what the sources follow. Empty: nothing to fetch. */
  filters: readonly LogFilter[];
  sourceFor(log: RawLog): Source<E> | undefined;
  /** At the head: the fetched logs that the sources' `matchAtHead` keep (the others all), in order. */
  keep(logs: readonly RawLog[]): Promise<RawLog[]>;
}

/**
 * What a selection is for: `range` fetches a block range with every filter; `head` fetches one
 * block, sources with `matchAtHead` without their filters; `decode` only routes logs to their
 * sources (no filter list is asked for).
 */
export type SelectionUse = "range" | "head" | "decode";

const resolve = (values: Values) => (typeof values === "function" ? values() : values);

/**
 * Combines the sources into eth_getLogs filters: one for every source without a topic filter
 * (every address, every topic0), and one per source with a topic filter (its longest list split
 * into chunks of TOPIC_CHUNK), with a router that hands each log to the source that follows its
 * address and topic0. Sources with fixed lists are resolved once; lists given as functions are
 * asked on every call.
 */
export function createSelector<E>(
  sources: readonly Source<E>[],
): (use?: SelectionUse) => Promise<Selection<E>> {
  type Resolved = { addresses: readonly string[]; filters: (readonly string[])[] };
  const build = (resolved: readonly Resolved[], use: SelectionUse): Selection<E> => {
    const routes = new Map<string, Map<string, Source<E>>>(); // address → topic0 → source
    const address = new Set<string>();
    const topics = new Set<string>();
    const filters: LogFilter[] = [];
    sources.forEach((source, i) => {
      const r = resolved[i];
      if (!r || r.addresses.length === 0) return;
      const unfiltered = use === "decode" || (use === "head" && source.matchAtHead !== undefined);
      // An empty OR-list matches nothing.
      if (!unfiltered && r.filters.some((values) => values.length === 0)) return;
      for (const raw of r.addresses) {
        const a = raw.toLowerCase();
        const byTopic = routes.get(a) ?? new Map<string, Source<E>>();
        for (const t of source.topics)
          if (!byTopic.has(t.toLowerCase())) byTopic.set(t.toLowerCase(), source);
        routes.set(a, byTopic);
      }
      const topic0 = source.topics.map((t) => t.toLowerCase());
      const own = unfiltered ? [] : (source.topicFilters ?? []);
      if (own.length === 0) {
        for (const a of r.addresses) address.add(a.toLowerCase());
        for (const t of topic0) topics.add(t);
        return;
      }
      // Its own requests: positions 1–3, the longest list chunked.
      const positions: (readonly string[] | null)[] = [null, null, null];
      own.forEach((f, j) => (positions[f.position - 1] = (r.filters[j] ?? []).map((v) => v.toLowerCase())));
      let longest = 0;
      positions.forEach((p, j) => {
        if (p && p.length > (positions[longest]?.length ?? 0)) longest = j;
      });
      const list = positions[longest] ?? [];
      for (let start = 0; start < Math.max(list.length, 1); start += TOPIC_CHUNK) {
        const rest = [...positions];
        if (list.length > 0) rest[longest] = list.slice(start, start + TOPIC_CHUNK);
        while (rest.length > 0 && rest.at(-1) === null) rest.pop();
        filters.push({ address: r.addresses.map((a) => a.toLowerCase()), topics: topic0, rest });
      }
    });
    if (address.size > 0) filters.unshift({ address: [...address], topics: [...topics] });
    const sourceFor = (log: RawLog) =>
      routes.get(log.address.toLowerCase())?.get((log.topics[0] ?? "").toLowerCase());
    return {
      filters,
      sourceFor,
      async keep(logs) {
        if (use !== "head") return [...logs];
        const bySource = new Map<Source<E>, RawLog[]>();
        for (const l of logs) {
          const source = sourceFor(l);
          if (!source?.matchAtHead) continue;
          const list = bySource.get(source) ?? [];
          list.push(l);
          bySource.set(source, list);
        }
        if (bySource.size === 0) return [...logs];
        const kept = new Set<RawLog>();
        for (const [source, list] of bySource)
          for (const l of await (source.matchAtHead as NonNullable<Source<E>["matchAtHead"]>)(list))
            kept.add(l);
        return logs.filter((l) => !sourceFor(l)?.matchAtHead || kept.has(l));
      },
    };
  };
  const isStatic = sources.every(
    (s) =>
      typeof s.addresses !== "function" &&
      (s.topicFilters ?? []).every((f) => typeof f.values !== "function"),
  );
  const resolveAll = async (use: SelectionUse) =>
    build(
      await Promise.all(
        sources.map(async (s) => ({
          addresses: await resolve(s.addresses),
          // Filter lists are asked only where they are used.
          filters:
            use === "decode" || (use === "head" && s.matchAtHead)
              ? []
              : await Promise.all((s.topicFilters ?? []).map((f) => resolve(f.values))),
        })),
      ),
      use,
    );
  if (isStatic) {
    const fixed = new Map<SelectionUse, Promise<Selection<E>>>();
    return (use = "range") => {
      const known = fixed.get(use) ?? resolveAll(use);
      fixed.set(use, known);
      return known;
    };
  }
  return (use = "range") => resolveAll(use);
}

/**
 * The logs of every filter of a selection over a block range or one block (by hash), in chain
 * order. A selection with one filter costs one request; each further filter one more.
 */
export async function fetchSelectionLogs(
  client: PublicClient,
  selection: Selection<unknown>,
  range: { fromBlock: bigint; toBlock: bigint } | { blockHash: string; blockNumber?: bigint },
  signal?: AbortSignal,
): Promise<RawLog[]> {
  const { filters } = selection;
  if (filters.length === 0) return [];
  if (filters.length === 1) return getRawLogs(client, filters[0] as LogFilter, range, signal);
  const all = (await Promise.all(filters.map((f) => getRawLogs(client, f, range, signal)))).flat();
  const key = (l: RawLog) => [BigInt(l.blockNumber), BigInt(l.logIndex)] as const;
  return all.sort((a, b) => {
    const [ab, al] = key(a);
    const [bb, bl] = key(b);
    return ab === bb ? (al < bl ? -1 : al > bl ? 1 : 0) : ab < bb ? -1 : 1;
  });
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
