/**
 * Chain presets: `CHAINS=base` plus `CHAIN_BASE_RPC_URL` is a whole chain configuration. A preset
 * fills in what an operator would otherwise look up by hand: the chain id and name, Multicall3,
 * native USDC (and USDT where it is verified), the Chainlink feeds with their heartbeats, the
 * confirmation and finality policy and a block-time hint. Every value stays overridable by the
 * chain's variables (server/src/config/chains.ts), and the runtime checks each one against the
 * chain at start-up (server/src/runtime/checks.ts).
 *
 * Where each value comes from is recorded in docs/chains.md. The chain ids, names, block times and
 * Multicall3 addresses are viem's (`viem/chains`), USDC's addresses viem's token list of Circle's
 * native USDC (`viem/tokens`). A value that could not be verified from a published source is left
 * out: the operator sets it, and start-up says which variable (a wrong money address is worse than
 * a missing one).
 */
import { getAddress, type Chain } from "viem";
import {
  arbitrum,
  arbitrumSepolia,
  base,
  baseSepolia,
  hardhat,
  holesky,
  localhost,
  mainnet,
  optimism,
  optimismSepolia,
  polygon,
  polygonAmoy,
  sepolia,
} from "viem/chains";
import { usdc } from "viem/tokens";

/** A Chainlink AggregatorV3 feed as a preset knows it: what it must answer, and how often it updates. */
export interface PresetFeed {
  address: `0x${string}`;
  /** What the feed's description() answers, e.g. "ETH / USD". */
  description: string;
  /** Decimals of its answer (8 for every feed priced in USD). */
  decimals: number;
  /** Chainlink's heartbeat: the answer is updated at least this often (seconds). */
  heartbeatSeconds: number;
}

export interface PresetToken {
  symbol: string;
  address: `0x${string}`;
  decimals: number;
  /** USD value of one whole token, as an exact decimal. */
  usdPeg: string;
  /** The token's Chainlink X/USD feed, when one is shipped. */
  feed?: PresetFeed;
}

/** How a chain charges for the L1 data of a transaction (docs/chains.md, "L2 fees"). */
export const L1_DATA_FEE_MODELS = ["op", "arbitrum", "none"] as const;
export type L1DataFeeModel = (typeof L1_DATA_FEE_MODELS)[number];

export interface ChainPreset {
  /** The name CHAINS takes: "base-sepolia". */
  name: string;
  /** viem's definition: id, display name, native currency, block explorer, Multicall3. */
  chain: Chain;
  multicall3: `0x${string}`;
  tokens: readonly PresetToken[];
  /** The Chainlink native-coin/USD feed (ETH/USD; POL/USD on Polygon), when one is shipped. */
  nativeUsdFeed?: PresetFeed;
  /** An L2 whose sequencer can stop: prices should be refused while Chainlink's uptime feed says it is down. */
  l2: boolean;
  /** Chainlink's L2 sequencer uptime feed, when one is shipped. */
  sequencerUptimeFeed?: `0x${string}`;
  /**
   * How the chain charges for posting a transaction's data to L1 (L1_DATA_FEE): "op" (OP-stack:
   * the GasPriceOracle predeploy), "arbitrum" (NodeInterface), or "none" (an L1).
   */
  l1DataFee: L1DataFeeModel;
  /** Confirmations before an order is complete (our policy; docs/chains.md says why). */
  confirmations: number;
  /** Reorg window kept when the node serves no `finalized` block (our policy). */
  finalityBlocks: number;
  /** Typical block interval (viem's `blockTime` where it has one). */
  blockTimeMs: number;
}

const USD = 8;

function usdcOn(chain: Chain): PresetToken {
  const address = usdc.addresses[chain.id as keyof typeof usdc.addresses] as `0x${string}` | undefined;
  if (address === undefined) throw new Error(`viem's token list has no USDC on ${chain.name} (${chain.id})`);
  return { symbol: "USDC", address, decimals: usdc.decimals, usdPeg: "1" };
}

function multicall3Of(chain: Chain): `0x${string}` {
  const address = chain.contracts?.multicall3?.address;
  if (address === undefined) throw new Error(`viem lists no Multicall3 on ${chain.name} (${chain.id})`);
  return getAddress(address);
}

/** An OP-stack chain's block time is in viem's shared OP-stack config; Sepolia and Amoy have none there. */
const blockTime = (chain: Chain, fallbackMs: number): number => chain.blockTime ?? fallbackMs;

function preset(
  name: string,
  chain: Chain,
  policy: Pick<ChainPreset, "l2" | "confirmations" | "finalityBlocks"> & {
    l1DataFee?: L1DataFeeModel;
    blockTimeMs?: number;
    tokens?: readonly PresetToken[];
    nativeUsdFeed?: PresetFeed;
  },
): ChainPreset {
  const { blockTimeMs, tokens, nativeUsdFeed, l1DataFee, ...rest } = policy;
  return {
    name,
    chain,
    l1DataFee: l1DataFee ?? "none",
    multicall3: multicall3Of(chain),
    tokens: tokens ?? [usdcOn(chain)],
    ...(nativeUsdFeed ? { nativeUsdFeed } : {}),
    blockTimeMs: blockTime(chain, blockTimeMs ?? 12_000),
    ...rest,
  };
}

// Ethereum's feeds and USDT: Chainlink's data feed list for Ethereum and Tether's contract (see
// docs/chains.md). Heartbeats: ETH/USD 1 hour, the stablecoin feeds 24 hours.
const ETHEREUM_USDC = usdcOn(mainnet);

/** Every preset, in the order the docs list them. */
export const PRESETS: readonly ChainPreset[] = [
  preset("ethereum", mainnet, {
    l2: false,
    confirmations: 12,
    finalityBlocks: 64,
    nativeUsdFeed: {
      address: "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419",
      description: "ETH / USD",
      decimals: USD,
      heartbeatSeconds: 3_600,
    },
    tokens: [
      {
        ...ETHEREUM_USDC,
        feed: {
          address: "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6",
          description: "USDC / USD",
          decimals: USD,
          heartbeatSeconds: 86_400,
        },
      },
      {
        symbol: "USDT",
        address: "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        decimals: 6,
        usdPeg: "1",
        feed: {
          address: "0x3E7d1eAB13ad0104d2750B8863b489D65364e32D",
          description: "USDT / USD",
          decimals: USD,
          heartbeatSeconds: 86_400,
        },
      },
    ],
  }),
  preset("sepolia", sepolia, { l2: false, confirmations: 6, finalityBlocks: 64, blockTimeMs: 12_000 }),
  preset("base", base, { l2: true, l1DataFee: "op", confirmations: 10, finalityBlocks: 450 }),
  preset("base-sepolia", baseSepolia, { l2: true, l1DataFee: "op", confirmations: 5, finalityBlocks: 450 }),
  preset("arbitrum", arbitrum, { l2: true, l1DataFee: "arbitrum", confirmations: 20, finalityBlocks: 3_600 }),
  preset("arbitrum-sepolia", arbitrumSepolia, {
    l2: true,
    l1DataFee: "arbitrum",
    confirmations: 10,
    finalityBlocks: 3_600,
  }),
  preset("optimism", optimism, { l2: true, l1DataFee: "op", confirmations: 10, finalityBlocks: 450 }),
  preset("op-sepolia", optimismSepolia, { l2: true, l1DataFee: "op", confirmations: 5, finalityBlocks: 450 }),
  preset("polygon", polygon, { l2: false, confirmations: 32, finalityBlocks: 256 }),
  preset("polygon-amoy", polygonAmoy, {
    l2: false,
    confirmations: 16,
    finalityBlocks: 256,
    blockTimeMs: 2_000,
  }),
];

export const PRESET_NAMES: readonly string[] = PRESETS.map((p) => p.name);

export const findPreset = (name: string): ChainPreset | undefined => PRESETS.find((p) => p.name === name);

/** Names of chains that are no preset, for logs when the configuration names no chain. */
const OTHER_NAMES = new Map<number, string>([
  [holesky.id, "holesky"],
  [hardhat.id, "hardhat"],
  [localhost.id, "localhost"],
]);

/** The name of a chain the configuration does not name: its preset's, else a few of viem's, else undefined. */
export function chainNameForId(chainId: bigint): string | undefined {
  const id = Number(chainId);
  return PRESETS.find((p) => p.chain.id === id)?.name ?? OTHER_NAMES.get(id);
}

/**
 * The default realtime polling interval for a block time: a third of a block, between 1 s and 4 s
 * (Ethereum's 12 s blocks: every 4 s; the L2s: every second).
 */
export const pollIntervalFor = (blockTimeMs: number): number =>
  Math.min(4_000, Math.max(1_000, Math.round(blockTimeMs / 3)));

/** How old a feed's answer may be before it is stale: one heartbeat and 10 % (its update takes a while to land). */
export const maxAgeFor = (heartbeatSeconds: number): number =>
  heartbeatSeconds + Math.ceil(heartbeatSeconds / 10);

/** `https://docs.chain.link/…`: where an operator finds a feed the preset does not ship. */
export const CHAINLINK_FEEDS_URL = "https://docs.chain.link/data-feeds/price-feeds/addresses";
export const CHAINLINK_SEQUENCER_FEEDS_URL = "https://docs.chain.link/data-feeds/l2-sequencer-feeds";
