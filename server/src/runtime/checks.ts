/**
 * Start-up checks of one chain's configuration against the chain itself: the chain id, the price
 * feed, the tokens (and their feeds), Multicall3 and the sequencer uptime feed. Each definite
 * problem (no code, wrong decimals or description, a stale feed, a token that takes a fee on
 * transfer) is one line naming the variable, or, for a value a preset supplied, the preset, the
 * value and the variable that overrides it; a transport error is not an answer, so it is retried
 * with backoff while the log says what start-up waits for.
 */
import { concat, encodeAbiParameters, erc20Abi, keccak256, pad, toHex, type PublicClient } from "viem";
import { aggregatorV3Abi } from "../pricing/index.ts";
import { TRANSFER_PROBE_RUNTIME_CODE, transferProbeAbi } from "../chain/probes.ts";
import type { ChainConfig, PresetFeed, PresetMarker, TokenConfig } from "../config/chains.ts";
import { CHAINLINK_FEEDS_URL, CHAINLINK_SEQUENCER_FEEDS_URL, maxAgeFor } from "../config/presets.ts";
import { isRevert } from "../deposits/probe.ts";
import { rpcErrorKind } from "../chain/rpc-stats.ts";
import {
  ARBITRUM_NODE_INTERFACE,
  gasPriceOracleAbi,
  nodeInterfaceAbi,
  OP_GAS_PRICE_ORACLE,
} from "../sender/l1-fee.ts";
import { isRetryable } from "../indexer/rpc.ts";
import { firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/sleep.ts";

/** Decimals of every Chainlink feed priced in USD (ETH/USD included); an 18-decimal feed is priced in ETH. */
export const USD_FEED_DECIMALS = 8;
const MAX_BACKOFF_MS = 30_000;

export interface CheckContext {
  client: PublicClient;
  /** How a setting's variable is named here: "" or e.g. "CHAIN_BASE_" before the setting. */
  v: (setting: string) => string;
  /** "chain 8453 (base)", for messages. */
  where: string;
  /** The chain's preset (CHAINS=base), when it has one: problems with its values name it. */
  preset?: PresetMarker;
  log: Logger;
  /** First retry delay (tests make it short); doubles up to 30 s. */
  retryMs?: number;
  /**
   * Give up (throw) once the node has given no answer at all (connection refused or reset, DNS)
   * for this long; unset: wait for ever. Rate limits, gateway errors and timeouts are always waited out.
   */
  unreachableMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs `fn` until it gives an answer: a retryable RPC error (timeout, connection loss, 429, 5xx) is
 * logged with what start-up is waiting for and tried again with backoff; a revert or any other error
 * is an answer and is thrown.
 */
export async function untilAnswered<T>(ctx: CheckContext, what: string, fn: () => Promise<T>): Promise<T> {
  let delay = ctx.retryMs ?? 1_000;
  let silentSince: number | undefined;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!isRetryable(error) || isRevert(error) || ctx.signal?.aborted) throw error;
      if (ctx.unreachableMs !== undefined && rpcErrorKind(error) === "network") {
        silentSince ??= Date.now();
        if (Date.now() - silentSince >= ctx.unreachableMs) throw error;
      } else silentSince = undefined;
      ctx.log.warn(
        `start-up is waiting for ${what} on ${ctx.where}: ${firstLine(error)}; retrying in ${Math.round(delay / 100) / 10} s`,
      );
      await sleep(delay, ctx.signal);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  }
}

const hasCode = async (ctx: CheckContext, address: `0x${string}`, what: string) => {
  const code = await untilAnswered(ctx, `the code of ${what}`, () => ctx.client.getCode({ address }));
  return code !== undefined && code !== "0x";
};

/** A view call whose revert (or empty answer) is the answer `undefined`; transport errors are retried. */
async function view<T>(ctx: CheckContext, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await untilAnswered(ctx, what, fn);
  } catch (error) {
    if (isRevert(error)) return undefined;
    throw error;
  }
}

/** True when the preset supplied this setting's value (no variable set it). */
const fromPreset = (ctx: CheckContext, setting: string): boolean =>
  ctx.preset?.supplied.some((s) => s === setting) ?? false;

/**
 * How a problem names a checked value: "CHAIN_BASE_PRICE_FEED_ADDRESS 0x…" when a variable set it,
 * "preset base: ETH/USD feed 0x…" when the preset did (its fix then says which variable overrides it).
 */
function subject(ctx: CheckContext, setting: string, what: string, address: string): string {
  return fromPreset(ctx, setting) && ctx.preset
    ? `preset ${ctx.preset.name}: ${what} ${address}`
    : `${ctx.v(setting)} ${address}`;
}

/**
 * The one line for a chain that reports another chain id than CHAIN_ID (or its preset's) says.
 * `actual` is the id the node at RPC_URL reports.
 */
export function chainIdMismatch(config: ChainConfig, actual: bigint): string {
  const v = (setting: string) => `${config.prefix}${setting}`;
  const preset = config.preset;
  if (preset && preset.supplied.includes("CHAIN_ID")) {
    return (
      `preset ${preset.name}: the node at ${v("RPC_URL")} reports chain ${actual}, not ${preset.label}'s ${config.expectedChainId}; ` +
      `point ${v("RPC_URL")} at ${preset.label}, or set ${v("CHAIN_ID")} to override (the preset's addresses are ${preset.label}'s)`
    );
  }
  return (
    `${v("CHAIN_ID")} is ${config.expectedChainId} but the node at ${v("RPC_URL")} reports chain ${actual}; ` +
    `point ${v("RPC_URL")} at chain ${config.expectedChainId} or fix ${v("CHAIN_ID")}`
  );
}

/** The line for a chain with neither a price feed nor a static price. */
export function missingPriceProblem(ctx: CheckContext, chainId: bigint): string {
  const coin = ctx.preset?.nativeSymbol ?? "ETH";
  const set = `set ${ctx.v("PRICE_FEED_ADDRESS")} (a Chainlink ${coin}/USD AggregatorV3 on chain ${chainId}; ${CHAINLINK_FEEDS_URL}) or ${ctx.v("ETH_USD_PRICE")}`;
  return ctx.preset
    ? `preset ${ctx.preset.name} ships no ${coin}/USD feed for ${ctx.preset.label} (none could be verified for it; docs/chains.md): ${set}`
    : set;
}

/**
 * PRICE_FEED_ADDRESS: a contract, with the 8 decimals of a USD feed (and, for a preset's feed, its
 * description), answering a positive price updated within PRICE_MAX_AGE_SECONDS. Returns the
 * problem, or null.
 */
export async function checkPriceFeed(
  ctx: CheckContext,
  feed: `0x${string}`,
  maxAgeSeconds: number,
  expected?: { description: string },
): Promise<string | null> {
  const coin = ctx.preset?.nativeSymbol ?? "ETH";
  const name = subject(ctx, "PRICE_FEED_ADDRESS", `${coin}/USD feed`, feed);
  const fix = fromPreset(ctx, "PRICE_FEED_ADDRESS")
    ? `set ${ctx.v("PRICE_FEED_ADDRESS")} to override (${CHAINLINK_FEEDS_URL}) or set ${ctx.v("ETH_USD_PRICE")}`
    : `set ${ctx.v("PRICE_FEED_ADDRESS")} to the chain's Chainlink ${coin}/USD feed (docs.chain.link/data-feeds/price-feeds/addresses) or set ${ctx.v("ETH_USD_PRICE")}`;
  const problem = await checkFeed(ctx, name, fix, {
    address: feed,
    decimals: USD_FEED_DECIMALS,
    ...(expected ? { description: expected.description } : {}),
  });
  if (problem) return problem;
  const round = await view(ctx, "the price feed's latest round", () =>
    ctx.client.readContract({ address: feed, abi: aggregatorV3Abi, functionName: "latestRoundData" }),
  );
  if (round === undefined) return `${name} on ${ctx.where} does not answer latestRoundData(); ${fix}`;
  const [, answer, , updatedAt] = round;
  if (answer <= 0n) return `${name} on ${ctx.where} answers no valid price (${answer}); ${fix}`;
  const age = Math.floor(Date.now() / 1000) - Number(updatedAt);
  if (age > maxAgeSeconds) {
    return (
      `${name} on ${ctx.where} was last updated ${age} s ago, more than ${ctx.v("PRICE_MAX_AGE_SECONDS")} (${maxAgeSeconds} s): ` +
      `every order would be refused as price_stale; check that it is the chain's live ${coin}/USD feed, or raise ${ctx.v("PRICE_MAX_AGE_SECONDS")} to the feed's heartbeat`
    );
  }
  return null;
}

/**
 * A FIAT_FEEDS entry: the feed must have code and 8 decimals (a Chainlink X/USD feed). A stale
 * answer is not a start-up problem: other rate sources may cover it, and an order in that currency
 * says so (docs/payment-methods.md).
 */
export async function checkFiatFeed(
  ctx: CheckContext,
  feed: { currency: string; address: `0x${string}` },
): Promise<string | null> {
  const name = `${ctx.v("FIAT_FEEDS")} entry ${feed.currency}:${feed.address}`;
  const fix = `set it to the chain's Chainlink ${feed.currency}/USD feed (${CHAINLINK_FEEDS_URL}) or remove the entry`;
  return await checkFeed(ctx, name, fix, { address: feed.address, decimals: USD_FEED_DECIMALS });
}

/**
 * A Chainlink feed's code, decimals and (when known) description. `name` and `fix` word the
 * problem; returns it, or null.
 */
async function checkFeed(
  ctx: CheckContext,
  name: string,
  fix: string,
  feed: { address: `0x${string}`; decimals: number; description?: string },
): Promise<string | null> {
  const { address } = feed;
  if (!(await hasCode(ctx, address, `the feed ${address}`)))
    return `${name} has no contract code on ${ctx.where}; ${fix}`;
  const decimals = await view(ctx, `the decimals of the feed ${address}`, () =>
    ctx.client.readContract({ address, abi: aggregatorV3Abi, functionName: "decimals" }),
  );
  if (decimals === undefined)
    return `${name} on ${ctx.where} does not answer decimals(): it is not an AggregatorV3 feed; ${fix}`;
  if (decimals !== feed.decimals) {
    return feed.decimals === USD_FEED_DECIMALS
      ? `${name} on ${ctx.where} has ${decimals} decimals, but a Chainlink feed priced in USD has ${USD_FEED_DECIMALS}: ` +
          `it is another pair's feed (one priced in ETH has 18); ${fix}`
      : `${name} on ${ctx.where} has ${decimals} decimals, not ${feed.decimals}; ${fix}`;
  }
  if (feed.description === undefined) return null;
  const description = await view(ctx, `the description of the feed ${address}`, () =>
    ctx.client.readContract({ address, abi: aggregatorV3Abi, functionName: "description" }),
  );
  if (description !== feed.description) {
    return (
      `${name} on ${ctx.where} ${description === undefined ? "does not answer description()" : `describes itself as "${description}"`}, ` +
      `not "${feed.description}": it is another feed; ${fix}`
    );
  }
  return null;
}

/**
 * A token's Chainlink X/USD feed (from a preset): code, decimals and description are problems; a
 * stale answer (older than TOKEN_PRICE_MAX_AGE_SECONDS, else the feed's heartbeat + 10 %) is
 * logged: that token's orders get 503 price_stale until the feed updates, the others go on.
 */
async function checkTokenFeed(
  ctx: CheckContext,
  token: TokenConfig,
  feed: PresetFeed,
): Promise<string | null> {
  const name = subject(ctx, "TOKENS", `${token.symbol}/USD feed`, feed.address);
  const fix = `set ${ctx.v("TOKENS")} to override (an entry the preset does not list carries no feed)`;
  const problem = await checkFeed(ctx, name, fix, feed);
  if (problem) return problem;
  const round = await view(ctx, `the latest round of the ${token.symbol}/USD feed`, () =>
    ctx.client.readContract({ address: feed.address, abi: aggregatorV3Abi, functionName: "latestRoundData" }),
  );
  const age = round === undefined ? undefined : Math.floor(Date.now() / 1000) - Number(round[3]);
  const maxAge = token.feedMaxAgeSeconds ?? maxAgeFor(feed.heartbeatSeconds);
  if (age === undefined || age > maxAge) {
    ctx.log.warn(
      `${name} on ${ctx.where} ${age === undefined ? "answers no round" : `was last updated ${age} s ago`}, ` +
        `beyond its limit of ${maxAge} s (heartbeat ${feed.heartbeatSeconds} s; ${ctx.v("TOKEN_PRICE_MAX_AGE_SECONDS")} overrides it): ` +
        `${token.symbol} orders are refused as price_stale until it updates`,
    );
  }
  return null;
}

/**
 * SEQUENCER_UPTIME_FEED_ADDRESS: Chainlink's L2 sequencer uptime feed, a contract with 0 decimals
 * answering 0 (up) or 1 (down). A down sequencer is logged. Returns the problem, or null.
 */
export async function checkSequencerFeed(ctx: CheckContext, address: `0x${string}`): Promise<string | null> {
  const name = subject(ctx, "SEQUENCER_UPTIME_FEED_ADDRESS", "sequencer uptime feed", address);
  const fix = `set ${ctx.v("SEQUENCER_UPTIME_FEED_ADDRESS")} to the chain's L2 sequencer uptime feed (${CHAINLINK_SEQUENCER_FEEDS_URL})`;
  const problem = await checkFeed(ctx, name, fix, { address, decimals: 0 });
  if (problem) return problem;
  const round = await view(ctx, "the sequencer uptime feed's latest round", () =>
    ctx.client.readContract({ address, abi: aggregatorV3Abi, functionName: "latestRoundData" }),
  );
  if (round === undefined || (round[1] !== 0n && round[1] !== 1n)) {
    return `${name} on ${ctx.where} answers ${round === undefined ? "no round" : round[1]}, not 0 (up) or 1 (down): it is not a sequencer uptime feed; ${fix}`;
  }
  if (round[1] === 1n) ctx.log.warn(`${name} says the sequencer of ${ctx.where} is down`);
  return null;
}

/**
 * L1_DATA_FEE (op or arbitrum, with a sweeper key): the chain answers the L1 fee reads the gas-share
 * rule makes: an OP stack's GasPriceOracle predeploy has code and answers getL1Fee; Arbitrum's
 * NodeInterface answers gasEstimateL1Component. Returns the problem, or null.
 */
export async function checkL1DataFee(
  ctx: CheckContext,
  model: "op" | "arbitrum",
  contract: `0x${string}`,
): Promise<string | null> {
  const setting = ctx.v("L1_DATA_FEE");
  const named =
    fromPreset(ctx, "L1_DATA_FEE") && ctx.preset
      ? `preset ${ctx.preset.name}: ${setting}=${model}`
      : `${setting}=${model}`;
  const fix = `set ${setting} to the chain's kind (op for OP-stack chains such as Base and OP Mainnet, arbitrum for Arbitrum, none for an L1)`;
  if (model === "op") {
    if (!(await hasCode(ctx, OP_GAS_PRICE_ORACLE, "the GasPriceOracle predeploy"))) {
      return `${named}, but ${ctx.where} has no GasPriceOracle at ${OP_GAS_PRICE_ORACLE}: it is not an OP-stack chain; ${fix}`;
    }
    const fee = await view(ctx, "the GasPriceOracle's L1 fee", () =>
      ctx.client.readContract({
        address: OP_GAS_PRICE_ORACLE,
        abi: gasPriceOracleAbi,
        functionName: "getL1Fee",
        args: ["0x"],
      }),
    );
    return fee === undefined
      ? `${named}, but the GasPriceOracle at ${OP_GAS_PRICE_ORACLE} on ${ctx.where} does not answer getL1Fee(bytes); ${fix}`
      : null;
  }
  const answer = await view(ctx, "the NodeInterface's L1 gas estimate", () =>
    ctx.client.simulateContract({
      address: ARBITRUM_NODE_INTERFACE,
      abi: nodeInterfaceAbi,
      functionName: "gasEstimateL1Component",
      args: [contract, false, "0x"],
    }),
  ).catch(() => undefined);
  return answer === undefined
    ? `${named}, but ${ctx.where} does not answer NodeInterface.gasEstimateL1Component at ${ARBITRUM_NODE_INTERFACE}: it is not an Arbitrum chain; ${fix}`
    : null;
}

/** MULTICALL3_ADDRESS, when set: a contract. Returns the problem, or null. */
export async function checkMulticall3(ctx: CheckContext, address: `0x${string}`): Promise<string | null> {
  if (await hasCode(ctx, address, "Multicall3")) return null;
  if (fromPreset(ctx, "MULTICALL3_ADDRESS")) {
    return (
      `${subject(ctx, "MULTICALL3_ADDRESS", "Multicall3", address)} has no contract code on ${ctx.where}; ` +
      `set ${ctx.v("MULTICALL3_ADDRESS")} to override`
    );
  }
  return (
    `${ctx.v("MULTICALL3_ADDRESS")} ${address} has no contract code on ${ctx.where}; ` +
    "set it to the chain's Multicall3 (0xcA11bde05977b3631167028862bE2a173976CA11 on most chains) or unset it"
  );
}

/**
 * TOKENS: each a contract whose decimals() matches its entry, and that moves exactly the amount a
 * transfer names (deposit sweeps and token subscriptions both rely on it). Returns the problems.
 */
export async function checkTokens(
  ctx: CheckContext,
  tokens: readonly TokenConfig[],
  processor: `0x${string}`,
): Promise<string[]> {
  const problems: string[] = [];
  const variable = ctx.v("TOKENS");
  const preset = fromPreset(ctx, "TOKENS");
  for (const token of tokens) {
    const name = preset
      ? subject(ctx, "TOKENS", token.symbol, token.address)
      : `${variable}: ${token.symbol} ${token.address}`;
    if (!(await hasCode(ctx, token.address, `the token ${token.symbol}`))) {
      problems.push(
        preset
          ? `${name} has no contract code on ${ctx.where}; check that ${ctx.v("RPC_URL")} points at ${ctx.preset?.label}, or set ${variable} to override`
          : `${name} has no contract code on ${ctx.where}; check the address, or that ${ctx.v("RPC_URL")} points at the chain the token is on`,
      );
      continue;
    }
    const decimals = await view(ctx, `the decimals of ${token.symbol}`, () =>
      ctx.client.readContract({ address: token.address, abi: erc20Abi, functionName: "decimals" }),
    );
    if (decimals === undefined) {
      problems.push(
        `${name} on ${ctx.where} does not answer decimals(): it is not an ERC-20 token; remove it from ${variable}`,
      );
      continue;
    }
    if (decimals !== token.decimals) {
      problems.push(
        `${name} has ${decimals} decimals on ${ctx.where}, not ${token.decimals} as ${preset ? `preset ${ctx.preset?.name}` : variable} says; ` +
          `set ${token.symbol}:${token.address}:${decimals} (amounts would be off by 10^${Math.abs(decimals - token.decimals)})`,
      );
      continue;
    }
    const moved = await simulateTransfer(ctx, token, processor);
    if (moved.kind === "unknown") {
      ctx.log.warn(
        `${name}: a transfer could not be simulated on ${ctx.where} (${moved.reason}); make sure it takes no fee on transfer`,
      );
    } else if (moved.sent !== moved.amount || moved.received !== moved.amount) {
      problems.push(
        `${name} on ${ctx.where} takes a fee on transfer (a simulated transfer of ${moved.amount} units took ${moved.sent} ` +
          `from the sender and gave the recipient ${moved.received}): deposit sweeps and token subscriptions need a token ` +
          `that moves exactly what is sent; remove ${token.symbol} from ${variable}`,
      );
    }
    if (token.feed) {
      const problem = await checkTokenFeed(ctx, token, token.feed);
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

/** The address the transfer probe runs at (a state override puts its code and a token balance there). */
const PROBE_HOLDER = "0x00000000000000000000000000000000ee678002" as const;
/** OpenZeppelin 5's upgradeable ERC20 namespace (ERC-7201 "openzeppelin.storage.ERC20"); balances first. */
const OZ_ERC20_STORAGE = "0x52c63247e1f47db19d5ce0460030c497f067ca4cebf71ba98eeadabe20bace00";
/** Solady's ERC20 balance slot seed. */
const SOLADY_BALANCE_SEED = "0x87a211a2";

/** Where common ERC-20 layouts keep `balances[holder]`, most common first. */
function balanceSlots(holder: `0x${string}`): `0x${string}`[] {
  const solidity = (p: number) =>
    keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [holder, BigInt(p)]));
  const vyper = (p: number) =>
    keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "address" }], [BigInt(p), holder]));
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  return [
    ...range(12).map(solidity),
    keccak256(encodeAbiParameters([{ type: "address" }, { type: "bytes32" }], [holder, OZ_ERC20_STORAGE])),
    keccak256(concat([holder, pad(SOLADY_BALANCE_SEED, { size: 12 })])),
    ...range(12).map((p) => solidity(p + 12)),
    ...range(24).map(vyper),
  ];
}

type SimulatedTransfer =
  { kind: "moved"; amount: bigint; sent: bigint; received: bigint } | { kind: "unknown"; reason: string };

/**
 * One transfer of the token to the processor, simulated with `eth_call`: a state override puts the
 * TransferProbe at a holder and gives it a balance (the balance slot is found by trying the common
 * layouts), then the probe transfers and measures both sides.
 */
async function simulateTransfer(
  ctx: CheckContext,
  token: TokenConfig,
  to: `0x${string}`,
): Promise<SimulatedTransfer> {
  const amount = 10n ** BigInt(token.decimals) * 1_000_000n;
  const slots = balanceSlots(PROBE_HOLDER);
  const WAVE = 14;
  let lastError = "its balance storage was not found";
  for (let i = 0; i < slots.length; i += WAVE) {
    const wave = slots.slice(i, i + WAVE);
    const results = await Promise.all(
      wave.map((slot) =>
        untilAnswered(ctx, `a simulated transfer of ${token.symbol}`, () =>
          ctx.client
            .simulateContract({
              address: PROBE_HOLDER,
              abi: transferProbeAbi,
              functionName: "probe",
              args: [token.address, to, amount],
              stateOverride: [
                { address: PROBE_HOLDER, code: TRANSFER_PROBE_RUNTIME_CODE },
                { address: token.address, stateDiff: [{ slot, value: toHex(amount, { size: 32 }) }] },
              ],
            })
            .then(
              ({ result: [sent, received] }) => ({ sent, received }),
              (error: unknown) => {
                if (!isRevert(error)) throw error;
                return { error: firstLine(error) };
              },
            ),
        ),
      ),
    );
    for (const r of results) {
      if ("sent" in r) return { kind: "moved", amount, sent: r.sent, received: r.received };
      if (!/TransferProbeNoBalance/.test(r.error)) lastError = r.error;
    }
  }
  return { kind: "unknown", reason: lastError };
}
