import pino from "pino";
import { parseAbi, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { secretKey } from "../../server/src/config/sweeper.ts";
import type { Serial } from "../../server/src/lib/serial.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { createSender, type Sender } from "../../server/src/sender/sender.ts";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import { createCollector, type Collector } from "../../server/src/token-subscriptions/collector.ts";
import { startNodeChain } from "./node-chain.ts";
import {
  deployChainParts,
  startNodeSystem,
  type NodeChain,
  type NodeSystem,
  type NodeSystemOptions,
} from "./node-system.ts";

/** Hardhat's dev account #9: the gas-only key of the sweeper and the collector (as under `npm start`). */
export const KEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

export const tokenAbi = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function nonces(address owner) view returns (uint256)",
  "function name() view returns (string)",
]);

/**
 * A `hardhat node` with the payment contract, a stablecoin (USDC, 6 decimals) allowed in it and
 * minted to the `holders` (each mints `mint` to itself), and the Subscriptions contract bound to the
 * processor: the chain of every token subscription test, for a system started in this process
 * (startTokenSubscriptionSystem) or another one (the dev stack).
 */
export async function startTokenSubscriptionChain(options: {
  holders: (chain: NodeChain) => Hex[] | Promise<Hex[]>;
  mint: bigint;
}): Promise<{ chain: NodeChain; token: Hex; subscriptions: Hex }> {
  const chain = await startNodeChain();
  try {
    const deployed = await deployChainParts(chain, ["usdc", "subscriptions"]);
    const token = deployed.usdc as Hex;
    for (const who of await options.holders(chain)) {
      const hash = await chain.wallet.writeContract({
        address: token,
        abi: tokenAbi,
        functionName: "mint",
        args: [who, options.mint],
        account: who,
        chain: null,
      });
      const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      if (receipt.status !== "success") throw new Error(`minting to ${who} failed`);
    }
    return { chain, token, subscriptions: deployed.subscriptions as Hex };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}

export interface TokenSubscriptionOptions extends Omit<NodeSystemOptions, "modules" | "prepare" | "chain"> {
  /** The accounts that get `mint` tokens (each mints to itself) before the system starts. */
  holders: (chain: NodeChain) => Hex[] | Promise<Hex[]>;
  mint: bigint;
  /** The collector as runtime/chain.ts builds it, with these settings (COLLECT_RETRY_BLOCKS, SWEEP_MAX_GAS_SHARE, ETH_USD_PRICE). */
  collector: { retryBlocks: number; maxGasSharePpm: bigint; ethUsdPrice: string; serial?: Serial };
  /** A merchant (by email) with the recurring payments plugin: its API key is `merchantKey`. */
  merchant?: string;
}

export interface TokenSubscriptionSystem extends NodeSystem {
  /** The stablecoin (USDC, 6 decimals) the subscriptions pull. */
  token: Hex;
  /** The Subscriptions contract bound to the processor. */
  subscriptions: Hex;
  indexer: NonNullable<NodeSystem["indexer"]>;
  collector: Collector;
  /** The gas-only key's address. */
  keeper: Hex;
  /** A sender of the gas-only key over `client` (the chain's by default), as the runtime builds it. */
  keeperSender(client?: PublicClient): Sender;
  /** The merchant's API key, when `merchant` was given. */
  merchantKey: string;
  /** `paidThrough(id)` of the Subscriptions contract. */
  paidThrough(id: bigint): Promise<bigint>;
}

/**
 * Token subscriptions on a node system: a stablecoin allowed in the processor and minted to the
 * `holders`, the Subscriptions contract, the system with SUBSCRIPTIONS_ADDRESS (and TOKENS), the
 * pipeline the test steps, and the collector and its sender of the gas-only key, built as
 * runtime/chain.ts builds them, ticked by the test.
 */
export async function startTokenSubscriptionSystem(
  options: TokenSubscriptionOptions,
): Promise<TokenSubscriptionSystem> {
  const { holders, mint, collector: settings, merchant, ...rest } = options;
  const { chain, token, subscriptions } = await startTokenSubscriptionChain({ holders, mint });
  const { env } = rest;
  const node = await startNodeSystem({
    ...rest,
    chain,
    env: (c, deployed) => ({
      TOKENS: `USDC:${token}:6`,
      SUBSCRIPTIONS_ADDRESS: subscriptions,
      ...(typeof env === "function" ? env(c, deployed) : env),
    }),
  }).catch(async (error: unknown) => {
    await chain.stop();
    throw error;
  });
  const { testDb, indexer } = node;
  if (!indexer) throw new Error("token subscription tests step the pipeline (RUN_INDEXER=false)");
  const chainId = node.system.chainId;
  const confirmations = node.config.chains[0]?.confirmations ?? 1;
  const keeperSender = (client: PublicClient = chain.client) =>
    createSender({
      db: testDb.db,
      client,
      chainId,
      privateKey: secretKey(KEEPER_KEY),
      stuckBlocks: 3,
      confirmations,
      settledBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
      ...(settings.serial ? { serial: settings.serial } : {}),
    });
  const collector = createCollector({
    db: testDb.db,
    client: chain.client,
    chainId,
    subscriptions,
    sender: keeperSender(),
    retryBlocks: settings.retryBlocks,
    maxGasSharePpm: settings.maxGasSharePpm,
    tokens: [{ address: token, decimals: 6, usdPeg: "1" }],
    prices: staticPriceSource(settings.ethUsdPrice),
    indexedBlock: () => indexer.status().indexedBlock,
    log: pino({ level: "silent" }),
  });
  let merchantKey = "";
  if (merchant) {
    merchantKey = (await createMerchant(testDb.db, merchant, "seller")).apiKey;
    await setPlugins(testDb.db, merchant, { recurring_payments: true });
  }
  return {
    ...node,
    async close() {
      await node.close();
      await chain.stop();
    },
    usdc: token,
    token,
    subscriptions,
    indexer,
    collector,
    keeper: privateKeyToAccount(KEEPER_KEY).address,
    keeperSender,
    merchantKey,
    paidThrough: (id) =>
      chain.client.readContract({
        address: subscriptions,
        abi: subscriptionsAbi,
        functionName: "paidThrough",
        args: [id],
      }),
  };
}
