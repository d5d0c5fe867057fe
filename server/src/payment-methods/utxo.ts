import type { UtxoMethodConfig } from "../config/payment-methods.ts";
import type { Db } from "../db/types.ts";
import { badRequest } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { refreshOrders, type OrderStateProvider } from "../orders/effects.ts";
import type { OrderEvents } from "../orders/events.ts";
import type { Clock } from "../orders/state.ts";
import { BitcoinCoreAdapter, type UtxoChainAdapter } from "../utxo/adapter.ts";
import { createAddressDeriver } from "../utxo/derive.ts";
import { addressParams, type UtxoCurrency } from "../utxo/networks.ts";
import { createRpcClient, type RpcClient } from "../utxo/rpc.ts";
import { ExtendedKeyError, parseExtendedPublicKey } from "../utxo/xpub.ts";
import { ordersAtUtxoAddresses } from "./repository.ts";
import {
  loadUtxoCursor,
  openUtxoPayments,
  saveUtxoCursor,
  saveUtxoPayments,
  takeXpubIndex,
  type UtxoPaymentRow,
} from "./utxo-repository.ts";

/**
 * UTXO coins as payment methods (LTC, and BTC and DASH, whose nodes speak the same RPC): each
 * order gets a receive address derived from the merchant's own account-level xpub (m/0/i, the
 * next index of that merchant), imported watch-only into the node's wallet; the money goes
 * straight to the merchant's wallet. A watcher per coin follows the wallet with the same adapter
 * as EletroPay (server/src/utxo/adapter.ts: listsinceblock from a stored cursor, reorgs included),
 * records what it saw, and recomputes the orders concerned through the orders module.
 */
export interface UtxoMethodsDeps {
  db: Db;
  coins: readonly UtxoMethodConfig[];
  events: OrderEvents;
  /** The order state provider of no chain (the payment-methods sum). */
  provider: OrderStateProvider;
  log: Logger;
  now?: () => number;
}

export function createUtxoMethods(deps: UtxoMethodsDeps) {
  const now = deps.now ?? Date.now;
  const coins = new Map(
    deps.coins.map((config) => {
      const rpc = createRpcClient(config.rpcUrl);
      const adapter: UtxoChainAdapter = new BitcoinCoreAdapter({ currency: config.coin, rpc, log: deps.log });
      return [config.coin as string, { config, rpc, adapter, ready: undefined as Promise<void> | undefined }];
    }),
  );
  const coinOf = (coin: string) => {
    const c = coins.get(coin.toUpperCase());
    if (!c)
      throw badRequest(
        `${coin} is not a payment method here; use one of ${[...coins.keys()].join(", ") || "(none)"}`,
      );
    return c;
  };
  const ready = (c: ReturnType<typeof coinOf>) =>
    (c.ready ??= c.adapter.ensureReady().catch((e: unknown) => {
      c.ready = undefined;
      throw e;
    }));

  /** Checks a merchant's xpub for `coin` (400 saying what to fix); returns it trimmed. */
  function validateXpub(coin: string, xpub: string): string {
    const c = coinOf(coin);
    try {
      parseExtendedPublicKey(xpub, c.config.coin, c.config.network, "xpub");
    } catch (error) {
      if (error instanceof ExtendedKeyError) throw badRequest(error.message, "invalid_xpub");
      throw error;
    }
    return xpub.trim();
  }

  /** A new receive address of the merchant for an order, imported watch-only; undefined without an xpub. */
  async function newAddress(merchantId: bigint, coin: string): Promise<string | undefined> {
    const c = coinOf(coin);
    const taken = await takeXpubIndex(deps.db, merchantId, c.config.coin);
    if (!taken) return undefined;
    const key = parseExtendedPublicKey(taken.xpub, c.config.coin, c.config.network, "xpub");
    const address = createAddressDeriver(key, addressParams(c.config.coin, c.config.network)).address(
      taken.index,
    );
    await ready(c);
    await c.adapter.importAddresses([{ address, label: `order m/0/${taken.index}`, since: "now" }]);
    return address;
  }

  /** One poll of a coin's wallet: records what changed and recomputes the orders it concerns. */
  async function pollOnce(coin: UtxoCurrency): Promise<number> {
    const c = coinOf(coin);
    await ready(c);
    const cursor = await loadUtxoCursor(deps.db, coin);
    const tracked = await openUtxoPayments(deps.db, coin);
    const result = await c.adapter.poll(cursor, c.config.confirmations, tracked);
    const seen: UtxoPaymentRow[] = [];
    const removed: { coin: string; txid: string; address: string }[] = [];
    const times = new Map<string, Date>();
    for (const o of result.observations) {
      if (o.state === "vanished" || (o.state === "block" && o.blockHash === null)) {
        removed.push({ coin, txid: o.txid, address: o.address });
        continue;
      }
      let blockTime: Date | null = null;
      if (o.state === "block" && o.blockHash) {
        blockTime = times.get(o.blockHash) ?? (await blockTimeOf(c.rpc, o.blockHash));
        times.set(o.blockHash, blockTime);
      }
      seen.push({
        coin,
        txid: o.txid,
        address: o.address,
        amount: o.amount,
        blockHeight: o.state === "block" ? o.blockHeight : null,
        blockTime,
        confirmations: o.confirmations,
        final: o.state === "block" && o.confirmations >= c.config.confirmations,
      });
    }
    const clock: Clock = {
      indexedBlock: BigInt(result.tipHeight),
      confirmations: c.config.confirmations,
      canExpire: (expiresAt) => now() >= expiresAt.getTime(),
    };
    await deps.db.transaction(async (tx) => {
      await saveUtxoPayments(tx, seen, removed);
      await saveUtxoCursor(tx, coin, result.cursor);
      const addresses = [...seen, ...removed].map((p) => p.address);
      const ids = await ordersAtUtxoAddresses(tx, coin, addresses);
      await refreshOrders(tx, clock, ids, deps.events, deps.provider);
    });
    return result.observations.length;
  }

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  function start(): void {
    if (coins.size === 0) return;
    stopped = false;
    const tick = () => {
      running = (async () => {
        for (const c of coins.values()) {
          try {
            await pollOnce(c.config.coin);
          } catch (error) {
            deps.log.warn(
              { coin: c.config.coin, err: error },
              "payment-methods: polling the node failed; retrying",
            );
          }
        }
      })();
      void running.then(() => {
        if (!stopped) timer = setTimeout(tick, Math.min(...[...coins.values()].map((x) => x.config.pollMs)));
      });
    };
    tick();
  }
  async function stop(): Promise<void> {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  }

  return {
    coins: () => [...coins.values()].map((c) => c.config),
    validateXpub,
    newAddress,
    pollOnce,
    start,
    stop,
  };
}

export type UtxoMethods = ReturnType<typeof createUtxoMethods>;

async function blockTimeOf(rpc: RpcClient, hash: string): Promise<Date> {
  const header = await rpc.call<{ time: number }>("getblockheader", [hash]);
  return new Date(header.time * 1000);
}

/** The BIP21 URI of a payment of `amount` (decimal) to `address`. */
export function utxoUri(coin: string, address: string, amount: string): string {
  const scheme = coin === "LTC" ? "litecoin" : coin === "DASH" ? "dash" : "bitcoin";
  return `${scheme}:${address}?amount=${amount}`;
}
