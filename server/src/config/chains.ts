import { resolve } from "node:path";
import { readShare, type EnvReader } from "./env.ts";
import {
  findPreset,
  maxAgeFor,
  pollIntervalFor,
  PRESET_NAMES,
  L1_DATA_FEE_MODELS,
  type ChainPreset,
  type L1DataFeeModel,
  type PresetFeed,
} from "./presets.ts";
import { readSweeperConfig, SWEEPER_SETTINGS, type SweeperConfig } from "./sweeper.ts";

export interface TokenConfig {
  symbol: string;
  address: `0x${string}`;
  decimals: number;
  /** USD value of one whole token, as an exact decimal (stablecoins: "1"). */
  usdPeg: string;
  /** The token's Chainlink X/USD feed (from a preset), checked at start-up and read for its peg. */
  feed?: PresetFeed;
  /**
   * With a feed: an older answer is stale (TOKEN_PRICE_MAX_AGE_SECONDS's entry for the symbol, else
   * the feed's heartbeat + 10 %).
   */
  feedMaxAgeSeconds?: number;
}

/** What a token order does when the token's USD feed is off its peg by more than PEG_MAX_DEVIATION. */
export type PegPolicy = "quote" | "refuse";

export interface PegConfig {
  /** PEG_MAX_DEVIATION in millionths (2 % → 20,000). */
  maxDeviationPpm: bigint;
  /** PEG_POLICY: "quote" at the feed's price (default) or "refuse" the order. */
  policy: PegPolicy;
}

export type { L1DataFeeModel, PresetFeed } from "./presets.ts";

/** The preset a chain of CHAINS is named after, and which of its settings the preset filled in. */
export interface PresetMarker {
  /** "base-sepolia" */
  name: string;
  /** "Base Sepolia" (viem's name of the chain). */
  label: string;
  /** The native coin ("ETH"; "POL" on Polygon), whose USD feed prices orders. */
  nativeSymbol: string;
  /** An L2 whose sequencer can stop (Chainlink publishes an uptime feed for it). */
  l2: boolean;
  /** Settings whose value came from the preset: neither CHAIN_<NAME>_<SETTING> nor <SETTING> was set. */
  supplied: readonly ChainSetting[];
}

/** One EVM chain the system follows; the runtime builds its client, contract, prices and indexer from it. */
export interface ChainConfig {
  /** Name from CHAINS (or CHAIN_NAME); undefined for an unnamed single chain: the runtime names it from its chain id. */
  name: string | undefined;
  /** CHAIN_<NAME>_CHAIN_ID (single chain: CHAIN_ID): the id the node must report at start-up. */
  expectedChainId: bigint | undefined;
  /** Unset only in single-chain mode: `npm start` runs a local Hardhat node and sets RPC_URL. */
  rpcUrl: string | undefined;
  /** ws(s) endpoint whose newHeads subscription wakes the indexer; the runtime defaults it to a ws(s) rpcUrl. */
  rpcWsUrl: string | undefined;
  /**
   * RPC_BATCH_SIZE: most JSON-RPC calls sent in one HTTP batch (1: no batching); halved at run time
   * when the provider refuses a batch for its size. Default 50.
   */
  rpcBatchSize: number;
  /** Unset: the chain's Ignition deployment. */
  contractAddress: `0x${string}` | undefined;
  /**
   * IGNITION_DEPLOYMENT_DIR: the Ignition deployment directory (its deployed_addresses.json) that
   * supplies what is not set: the contract and Multicall3, and on a local chain the token, the feed
   * and Subscriptions.
   * Unset: `ignition/deployments/chain-<id>` on a public chain, none on a local one (every local node
   * is chain 31337, so the id names none of them; `npm start` sets its own).
   */
  ignitionDeploymentDir?: string;
  /** First block to index; default: the contract's deployment block from Ignition, else 0. */
  startBlock: bigint | undefined;
  confirmations: number;
  /** Blocks kept for reorg handling; a deeper reorg stops the indexer. */
  finalityBlocks: number;
  pollIntervalMs: number;
  /** Static ETH/USD price (tests, demos); takes precedence over the feed when set. */
  ethUsdPrice: string | undefined;
  /** Chainlink AggregatorV3 ETH/USD feed; default on local chains: the Ignition mock. */
  priceFeedAddress: `0x${string}` | undefined;
  /**
   * The feed's heartbeat and description, when the feed is the preset's: start-up checks the
   * description, and the heartbeat sets the default PRICE_MAX_AGE_SECONDS.
   */
  priceFeedExpected?: { description: string; heartbeatSeconds: number };
  /** An older feed answer is stale: PRICE_MAX_AGE_SECONDS, else the preset feed's heartbeat + 10 %, else 3600. */
  priceMaxAgeSeconds: number;
  /** SEQUENCER_UPTIME_FEED_ADDRESS: Chainlink's L2 sequencer uptime feed (answers 0 while the sequencer is up). */
  sequencerUptimeFeed?: `0x${string}`;
  /**
   * SEQUENCER_GRACE_SECONDS: after the sequencer comes back up, new orders stay refused this long
   * (prices and the chain catch up first). Default 3600.
   */
  sequencerGraceSeconds: number;
  /**
   * FEED_CACHE_MS: a price feed's or the sequencer uptime feed's answer is reused this long (default
   * 5000) before it is read again; 0 reads it on every use. While the provider refuses, the last
   * answer stands for up to 60 s (30 s for the sequencer), and is still judged for staleness.
   */
  feedCacheMs: number;
  /**
   * L1_DATA_FEE: how the chain charges for a transaction's L1 data, counted by the gas-share rule of
   * the sweeper and the collector: "op", "arbitrum" or "none"; default: the preset's, else "none".
   */
  l1DataFee: L1DataFeeModel;
  /**
   * FIAT_FEEDS ("EUR:0x…:86400,BRL:0x…"): Chainlink fiat/USD feeds and their heartbeats (default
   * 86400 s); an answer is stale after the heartbeat + 10 % of FX market hours.
   */
  fiatFeeds?: FiatFeedConfig[];
  /** PEG_MAX_DEVIATION and PEG_POLICY: a stablecoin whose USD feed is off its peg. */
  peg: PegConfig;
  /** Typical block interval, from the preset (it sets the default POLL_INTERVAL_MS). */
  blockTimeMs?: number;
  /** Set when CHAINS names a preset (CHAINS=base): which preset, and which values it supplied. */
  preset?: PresetMarker;
  tokens: TokenConfig[];
  /**
   * MULTICALL3_ADDRESS, for the per-block balance reads of deposit addresses; unset: the chain's
   * `LocalDev#Multicall3`, else the canonical 0xcA11…CA11 when it has code, else a JSON-RPC batch.
   */
  multicall3Address?: `0x${string}`;
  /** DEPOSIT_WATCH_HOURS after an order's expiry that its deposit address stays watched; unset: 24. */
  depositWatchHours?: number;
  /**
   * WATCH_FULL_CYCLE_SECONDS: on a node without call traces, every open deposit address's ETH
   * balance is read at least this often (one slice per block); default 30.
   */
  watchFullCycleSeconds: number;
  /** The sweeper of this chain's deposits (SWEEPER_PRIVATE_KEY and the SWEEP_* policy); absent without a key. */
  sweeper?: SweeperConfig;
  /**
   * SUBSCRIPTIONS_ADDRESS: the Subscriptions contract (recurring token pulls) bound to this chain's
   * PaymentProcessor; unset: the chain's Ignition deployment on a local chain, else none (the
   * token-subscription path is off on this chain).
   */
  subscriptionsAddress?: `0x${string}`;
  /**
   * COLLECT_RETRY_BLOCKS: after a collect fails in simulation (allowance lowered, balance short,
   * token refused, processor paused), the collector tries that subscription again only this many
   * blocks later (doubling per consecutive failure, up to 32×). Default 20.
   */
  collectRetryBlocks: number;
  /** How this chain's variables are named in messages: "" (single chain) or e.g. "CHAIN_BASE_". */
  prefix: string;
}

/** DEPOSIT_WATCH_HOURS when unset. */
export const DEFAULT_DEPOSIT_WATCH_HOURS = 24;

/** Per-chain settings: CHAIN_<NAME>_<SETTING>, each defaulting to the global <SETTING>. */
export const CHAIN_SETTINGS = [
  "RPC_URL",
  "RPC_WS_URL",
  "RPC_BATCH_SIZE",
  "CHAIN_ID",
  "CONTRACT_ADDRESS",
  "IGNITION_DEPLOYMENT_DIR",
  "START_BLOCK",
  "CONFIRMATIONS",
  "FINALITY_BLOCKS",
  "POLL_INTERVAL_MS",
  "ETH_USD_PRICE",
  "PRICE_FEED_ADDRESS",
  "PRICE_MAX_AGE_SECONDS",
  "TOKENS",
  "MULTICALL3_ADDRESS",
  "DEPOSIT_WATCH_HOURS",
  "WATCH_FULL_CYCLE_SECONDS",
  ...SWEEPER_SETTINGS,
  "SUBSCRIPTIONS_ADDRESS",
  "COLLECT_RETRY_BLOCKS",
  "SEQUENCER_UPTIME_FEED_ADDRESS",
  "SEQUENCER_GRACE_SECONDS",
  "FEED_CACHE_MS",
  "L1_DATA_FEE",
  "TOKEN_PRICE_MAX_AGE_SECONDS",
  "PEG_MAX_DEVIATION",
  "PEG_POLICY",
  "FIAT_FEEDS",
] as const;
export type ChainSetting = (typeof CHAIN_SETTINGS)[number];

/** Settings that make no sense shared by several chains: with CHAINS they must be set per chain. */
const PER_CHAIN_ONLY: readonly ChainSetting[] = ["RPC_URL", "RPC_WS_URL", "CHAIN_ID"];

const NAME_PATTERN = /^[a-z0-9-]+$/;

/** `base-sepolia` → `CHAIN_BASE_SEPOLIA_` */
export const chainPrefix = (name: string): string => `CHAIN_${name.toUpperCase().replace(/-/g, "_")}_`;

const TOKENS_FORMAT = `entries like "USDC:0x…40 hex…:6[:usdPeg]" separated by commas`;

function readTokens(r: EnvReader, name: string): TokenConfig[] {
  const value = r.raw(name);
  if (!value) return [];
  const tokens: TokenConfig[] = [];
  for (const entry of value.split(",")) {
    const [symbol, addr, decimals, usdPeg = "1", extra] = entry.trim().split(":");
    if (
      !symbol ||
      !/^[A-Z0-9]{2,11}$/.test(symbol) ||
      !addr ||
      !/^0x[0-9a-fA-F]{40}$/.test(addr) ||
      !decimals ||
      !/^\d{1,2}$/.test(decimals) ||
      !/^\d+(\.\d+)?$/.test(usdPeg) ||
      extra !== undefined
    ) {
      r.problem(
        `${name} must look like ${TOKENS_FORMAT} (symbol: 2–11 capitals or digits), got "${entry.trim()}"`,
        name,
      );
      continue;
    }
    tokens.push({ symbol, address: addr as `0x${string}`, decimals: Number(decimals), usdPeg });
  }
  const seen = new Set<string>();
  for (const token of tokens) {
    if (seen.has(token.symbol)) {
      r.problem(`${name} lists ${token.symbol} twice; keep one entry per symbol`, name);
    }
    seen.add(token.symbol);
  }
  return tokens;
}

/**
 * Reads one chain. `variable(setting)` says which variable holds a setting: in multi-chain mode
 * CHAIN_<NAME>_<SETTING> when it is set, else the global <SETTING>. With a preset, a setting that
 * neither variable sets takes the preset's value.
 */
function readChain(
  r: EnvReader,
  name: string | undefined,
  variable: (setting: ChainSetting) => string,
  rpcUrlRequired: boolean,
  prefix: string,
  preset?: ChainPreset,
): ChainConfig {
  const v = variable;
  const supplied: ChainSetting[] = [];
  /** The preset's value of a setting that no variable sets (recorded as supplied), else undefined. */
  const fromPreset = <T>(setting: ChainSetting, value: T | undefined): T | undefined => {
    if (preset === undefined || value === undefined || r.raw(v(setting)) !== undefined) return undefined;
    supplied.push(setting);
    return value;
  };
  const rpcUrl =
    rpcUrlRequired && r.raw(v("RPC_URL")) === undefined
      ? r.required(
          v("RPC_URL"),
          preset
            ? `for the chain "${name}" listed in CHAINS: set it to a JSON-RPC endpoint of ${preset.chain.name} (chain ${preset.chain.id}; http(s):// or ws(s)://)`
            : `for the chain "${name}" listed in CHAINS: set it to the chain's JSON-RPC endpoint (http(s):// or ws(s)://)`,
        )
      : r.url(v("RPC_URL"), ["http:", "https:", "ws:", "wss:"]);
  const presetConfirmations = fromPreset("CONFIRMATIONS", preset?.confirmations);
  const confirmations = r.int(v("CONFIRMATIONS"), presetConfirmations ?? 12, 1, 1_000);
  const finalityDefault =
    fromPreset("FINALITY_BLOCKS", preset?.finalityBlocks) ?? Math.max(64, confirmations * 2);
  const finalityBlocks = r.int(v("FINALITY_BLOCKS"), finalityDefault, 1, 100_000);
  if (finalityBlocks <= confirmations && !r.failed(v("CONFIRMATIONS"), v("FINALITY_BLOCKS"))) {
    r.problem(
      `${v("FINALITY_BLOCKS")} (${finalityBlocks}) must be greater than ${v("CONFIRMATIONS")} (${confirmations}); ` +
        `set ${v("FINALITY_BLOCKS")} to at least ${Math.max(64, confirmations * 2)} or leave it unset`,
      v("FINALITY_BLOCKS"),
    );
  }
  const expectedChainId =
    r.bigint(v("CHAIN_ID"), "the chain id the node reports") ??
    fromPreset("CHAIN_ID", preset ? BigInt(preset.chain.id) : undefined);
  const feed = preset?.nativeUsdFeed;
  const priceFeedAddress =
    r.address(v("PRICE_FEED_ADDRESS")) ?? fromPreset("PRICE_FEED_ADDRESS", feed?.address);
  const presetFeed =
    feed !== undefined && priceFeedAddress?.toLowerCase() === feed.address.toLowerCase() ? feed : undefined;
  const maxAgeDefault = presetFeed
    ? fromPreset("PRICE_MAX_AGE_SECONDS", maxAgeFor(presetFeed.heartbeatSeconds))
    : undefined;
  const tokens =
    r.raw(v("TOKENS")) === undefined && preset
      ? (fromPreset(
          "TOKENS",
          preset.tokens.map((t) => ({ ...t })),
        ) ?? [])
      : withPresetFeeds(readTokens(r, v("TOKENS")), preset);
  const blockTimeMs = preset?.blockTimeMs;
  const pollDefault =
    blockTimeMs === undefined ? undefined : fromPreset("POLL_INTERVAL_MS", pollIntervalFor(blockTimeMs));
  const multicall3 =
    r.address(v("MULTICALL3_ADDRESS")) ?? fromPreset("MULTICALL3_ADDRESS", preset?.multicall3);
  const sequencer =
    r.address(v("SEQUENCER_UPTIME_FEED_ADDRESS")) ??
    fromPreset("SEQUENCER_UPTIME_FEED_ADDRESS", preset?.sequencerUptimeFeed);
  const l1DataFee =
    r.raw(v("L1_DATA_FEE")) === undefined
      ? (fromPreset("L1_DATA_FEE", preset?.l1DataFee === "none" ? undefined : preset?.l1DataFee) ?? "none")
      : r.oneOf(v("L1_DATA_FEE"), L1_DATA_FEE_MODELS, "none");
  return {
    name,
    expectedChainId,
    rpcUrl: rpcUrl ?? undefined,
    rpcWsUrl: r.url(v("RPC_WS_URL"), ["ws:", "wss:"]),
    rpcBatchSize: r.int(v("RPC_BATCH_SIZE"), 50, 1, 1_000),
    contractAddress: r.address(v("CONTRACT_ADDRESS")),
    startBlock: r.bigint(v("START_BLOCK"), "a block number"),
    confirmations,
    finalityBlocks,
    pollIntervalMs: r.int(v("POLL_INTERVAL_MS"), pollDefault ?? 1_000, 10, 600_000),
    ethUsdPrice: r.decimal(v("ETH_USD_PRICE"), undefined),
    priceFeedAddress,
    priceMaxAgeSeconds: r.int(v("PRICE_MAX_AGE_SECONDS"), maxAgeDefault ?? 3_600, 1, 30 * 24 * 3600),
    tokens: withFeedMaxAges(r, v("TOKEN_PRICE_MAX_AGE_SECONDS"), tokens),
    sequencerGraceSeconds: r.int(v("SEQUENCER_GRACE_SECONDS"), 3_600, 0, 7 * 24 * 3600),
    feedCacheMs: r.int(v("FEED_CACHE_MS"), 5_000, 0, 600_000),
    l1DataFee,
    peg: {
      maxDeviationPpm: readShare(r, v("PEG_MAX_DEVIATION"), 20_000n, "a share of the peg"),
      policy: r.oneOf(v("PEG_POLICY"), ["quote", "refuse"] as const, "quote"),
    },
    collectRetryBlocks: r.int(v("COLLECT_RETRY_BLOCKS"), 20, 1, 1_000_000),
    watchFullCycleSeconds: r.int(v("WATCH_FULL_CYCLE_SECONDS"), 30, 1, 86_400),
    prefix,
    ...optional("ignitionDeploymentDir", optionalPath(r.optionalStr(v("IGNITION_DEPLOYMENT_DIR")))),
    ...optional("multicall3Address", multicall3),
    ...optional("depositWatchHours", r.optionalInt(v("DEPOSIT_WATCH_HOURS"), 0, 24 * 365)),
    ...optional("sweeper", readSweeperConfig(r, v)),
    ...optional("subscriptionsAddress", r.address(v("SUBSCRIPTIONS_ADDRESS"))),
    ...optional("sequencerUptimeFeed", sequencer),
    ...optional("fiatFeeds", readFiatFeeds(r, v("FIAT_FEEDS"))),
    ...optional("blockTimeMs", blockTimeMs),
    ...optional(
      "priceFeedExpected",
      presetFeed && { description: presetFeed.description, heartbeatSeconds: presetFeed.heartbeatSeconds },
    ),
    ...optional(
      "preset",
      preset && {
        name: preset.name,
        label: preset.chain.name,
        nativeSymbol: preset.chain.nativeCurrency.symbol,
        l2: preset.l2,
        supplied,
      },
    ),
  };
}

/** TOKENS set on a preset chain: an entry at a preset token's address and decimals keeps that token's feed. */
function withPresetFeeds(tokens: TokenConfig[], preset: ChainPreset | undefined): TokenConfig[] {
  if (!preset) return tokens;
  return tokens.map((token) => {
    const known = preset.tokens.find(
      (t) => t.address.toLowerCase() === token.address.toLowerCase() && t.decimals === token.decimals,
    );
    return known?.feed ? { ...token, feed: known.feed } : token;
  });
}

/**
 * TOKEN_PRICE_MAX_AGE_SECONDS ("USDC:90000,USDT:90000"): how old each token feed's answer may be;
 * a token with a feed and no entry gets its feed's heartbeat + 10 %. An entry for a token without a
 * feed, or not in TOKENS, is a problem (it would silently do nothing).
 */
function withFeedMaxAges(r: EnvReader, name: string, tokens: TokenConfig[]): TokenConfig[] {
  const overrides = new Map<string, number>();
  const value = r.raw(name);
  for (const entry of value === undefined ? [] : value.split(",")) {
    const match = /^([A-Z0-9]{2,11}):(\d{1,7})$/.exec(entry.trim());
    const seconds = match ? Number(match[2]) : 0;
    if (!match || seconds < 1) {
      r.problem(
        `${name} must list entries like "USDC:90000" (a symbol of TOKENS and a number of seconds, at least 1) separated by commas, got "${entry.trim()}"`,
        name,
      );
      continue;
    }
    const symbol = match[1] as string;
    const token = tokens.find((t) => t.symbol === symbol);
    if (!token?.feed) {
      r.problem(
        `${name} sets a maximum age for ${symbol}, but ${token ? `${symbol} has no USD feed here` : `${symbol} is not in TOKENS`}; remove the entry`,
        name,
      );
      continue;
    }
    overrides.set(symbol, seconds);
  }
  return tokens.map((t) =>
    t.feed ? { ...t, feedMaxAgeSeconds: overrides.get(t.symbol) ?? maxAgeFor(t.feed.heartbeatSeconds) } : t,
  );
}

/** A fiat currency's Chainlink X/USD feed (FIAT_FEEDS). */
export interface FiatFeedConfig {
  /** ISO 4217, upper case. */
  currency: string;
  address: `0x${string}`;
  /** The heartbeat + 10 %, counted in FX market hours. */
  maxAgeSeconds: number;
}

/** FIAT_FEEDS: "EUR:0x…40 hex…[:heartbeatSeconds]" entries separated by commas. */
function readFiatFeeds(r: EnvReader, name: string): FiatFeedConfig[] | undefined {
  const value = r.raw(name);
  if (!value) return undefined;
  const feeds: FiatFeedConfig[] = [];
  for (const entry of value.split(",").map((e) => e.trim())) {
    const match = /^([A-Za-z]{3}):(0x[0-9a-fA-F]{40})(?::(\d{1,7}))?$/.exec(entry);
    if (!match || match[1]?.toUpperCase() === "USD") {
      r.problem(
        `${name} must list fiat/USD feeds like "EUR:0x…40 hex…:86400" (currency, feed address, heartbeat in seconds) separated by commas; "${entry}" is not one`,
        name,
      );
      continue;
    }
    const heartbeat = Number(match[3] ?? "86400");
    feeds.push({
      currency: (match[1] as string).toUpperCase(),
      address: match[2] as `0x${string}`,
      maxAgeSeconds: maxAgeFor(heartbeat),
    });
  }
  return feeds;
}

/** A directory setting, resolved against the working directory (as DATA_DIR is). */
const optionalPath = (value: string | undefined) => (value === undefined ? undefined : resolve(value));

/** `{ [key]: value }` when the value is set, else nothing (optional settings stay absent). */
const optional = <K extends string, T>(key: K, value: T | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, T>>;

/**
 * The chains to follow. Without CHAINS: one chain from RPC_URL, CONTRACT_ADDRESS, … (unchanged
 * single-chain configuration; CHAIN_NAME optionally names it, CHAIN_ID optionally pins its id). With CHAINS=ethereum,base: one
 * chain per name, each setting read from CHAIN_<NAME>_<SETTING> or else the global <SETTING>.
 */
export function readChains(r: EnvReader): ChainConfig[] {
  const list = r.raw("CHAINS");
  const strays = Object.keys(r.env).filter(
    (key) =>
      key.startsWith("CHAIN_") && key !== "CHAIN_NAME" && key !== "CHAIN_ID" && r.raw(key) !== undefined,
  );
  if (list === undefined) {
    for (const key of strays) {
      r.problem(
        `${key} is a per-chain variable but CHAINS is not set; set CHAINS (e.g. CHAINS=ethereum,base) or remove ${key}`,
        key,
      );
    }
    const name = r.raw("CHAIN_NAME");
    if (name !== undefined && !NAME_PATTERN.test(name)) {
      r.problem(
        `CHAIN_NAME must use lowercase letters, digits and "-" (e.g. ethereum, base-sepolia), got "${name}"`,
        "CHAIN_NAME",
      );
    }
    return [
      readChain(r, name && NAME_PATTERN.test(name) ? name : undefined, (setting) => setting, false, ""),
    ];
  }

  if (r.raw("CHAIN_NAME") !== undefined) {
    r.problem(
      "CHAIN_NAME names the single chain of RPC_URL; with CHAINS set, remove CHAIN_NAME (CHAINS names every chain)",
      "CHAIN_NAME",
    );
  }
  for (const setting of PER_CHAIN_ONLY) {
    if (r.raw(setting) !== undefined) {
      r.problem(
        `${setting} and CHAINS are both set; with CHAINS, set CHAIN_<NAME>_${setting} for each chain (e.g. CHAIN_ETHEREUM_${setting}) and remove ${setting}, or remove CHAINS for a single chain`,
        setting,
      );
    }
  }
  const names = list.split(",").map((name) => name.trim());
  const valid: string[] = [];
  for (const name of names) {
    if (!NAME_PATTERN.test(name)) {
      r.problem(
        `CHAINS must list chain names of lowercase letters, digits and "-", separated by commas (e.g. CHAINS=ethereum,base), got "${name}"`,
        "CHAINS",
      );
    } else if (valid.includes(name)) {
      r.problem(`CHAINS lists "${name}" twice; list each chain once`, "CHAINS");
    } else {
      valid.push(name);
    }
  }
  // Misspelt names would otherwise be ignored silently; skipped when CHAINS itself is wrong.
  if (!r.failed("CHAINS")) {
    const known = new Set(
      valid.flatMap((name) => CHAIN_SETTINGS.map((setting) => chainPrefix(name) + setting)),
    );
    for (const key of strays.filter((key) => !known.has(key))) {
      const chain = valid
        .filter((name) => key.startsWith(chainPrefix(name)))
        .sort((a, b) => b.length - a.length)[0];
      r.problem(
        chain === undefined
          ? `${key} matches no chain in CHAINS (${valid.join(", ")}); add its chain to CHAINS, fix its name or remove it`
          : `${key} is not a per-chain setting; use ${chainPrefix(chain)}<SETTING> with SETTING one of ${CHAIN_SETTINGS.join(", ")}`,
        key,
      );
    }
  }

  // A name is a preset (CHAINS=base), or a chain of the operator's own, which then says its chain id;
  // anything else is most likely a misspelt preset.
  const chains: ChainConfig[] = [];
  for (const name of valid) {
    const preset = findPreset(name);
    if (preset === undefined && r.raw(`${chainPrefix(name)}CHAIN_ID`) === undefined) {
      r.problem(
        `CHAINS lists "${name}", which is no preset (presets: ${PRESET_NAMES.join(", ")}); fix the name, ` +
          `or describe a chain of your own by setting ${chainPrefix(name)}CHAIN_ID with its RPC URL, contract, price and tokens`,
        "CHAINS",
      );
      continue;
    }
    chains.push(
      readChain(
        r,
        name,
        (setting) => {
          const own = chainPrefix(name) + setting;
          return PER_CHAIN_ONLY.includes(setting) || r.raw(own) !== undefined ? own : setting;
        },
        true,
        chainPrefix(name),
        preset,
      ),
    );
  }
  const ids = new Map<bigint, string>();
  for (const chain of chains) {
    if (chain.expectedChainId === undefined || chain.name === undefined) continue;
    const other = ids.get(chain.expectedChainId);
    if (other !== undefined) {
      r.problem(
        `${chainPrefix(chain.name)}CHAIN_ID and ${chainPrefix(other)}CHAIN_ID are both ${chain.expectedChainId}; ` +
          "each chain in CHAINS must be a different chain: fix the id or remove the duplicate chain",
        `${chainPrefix(chain.name)}CHAIN_ID`,
      );
    } else {
      ids.set(chain.expectedChainId, chain.name);
    }
  }
  return chains;
}
