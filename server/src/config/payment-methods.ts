import { DEFAULT_CONFIRMATIONS } from "./eletropay.ts";
import type { EnvReader } from "./env.ts";
import { NETWORK_NAMES, UTXO_CURRENCIES, type NetworkName, type UtxoCurrency } from "../utxo/networks.ts";

/** A UTXO coin orders may be paid in, to addresses derived from each merchant's own xpub. */
export interface UtxoMethodConfig {
  coin: UtxoCurrency;
  network: NetworkName;
  /** The node's JSON-RPC URL on a watch-only wallet of its own (`…/wallet/payments`). */
  rpcUrl: string;
  /** Confirmations after which a payment is final (PAY_<COIN>_CONFIRMATIONS). */
  confirmations: number;
  /** The coin's USD price (PAY_<COIN>_USD_PRICE), decimal text: each order locks it. */
  usdPrice: string;
  /** How often the watcher asks the node (PAY_UTXO_POLL_MS). */
  pollMs: number;
}

export interface PaymentMethodsConfig {
  utxo: UtxoMethodConfig[];
}

/**
 * PAY_<COIN>_RPC_URL turns a UTXO coin on as a payment method (LTC, BTC, DASH), with
 * PAY_<COIN>_NETWORK (mainnet), PAY_<COIN>_CONFIRMATIONS (LTC and DASH 6, BTC 3) and
 * PAY_<COIN>_USD_PRICE (required: the rate each order locks). Merchants register their xpubs
 * through PUT /user/xpubs/:coin.
 */
export function readPaymentMethodsConfig(r: EnvReader): PaymentMethodsConfig {
  const utxo: UtxoMethodConfig[] = [];
  const pollMs = r.int("PAY_UTXO_POLL_MS", 2000, 10, 600_000);
  for (const coin of UTXO_CURRENCIES) {
    const rpcName = `PAY_${coin}_RPC_URL`;
    if (r.raw(rpcName) === undefined) continue;
    const rpcUrl = r.url(rpcName, ["http:", "https:"]);
    const network = r.oneOf(`PAY_${coin}_NETWORK`, NETWORK_NAMES, "mainnet");
    const confirmations = r.int(`PAY_${coin}_CONFIRMATIONS`, DEFAULT_CONFIRMATIONS[coin], 1, 1000);
    const priceName = `PAY_${coin}_USD_PRICE`;
    const usdPrice =
      r.raw(priceName) === undefined
        ? r.required(
            priceName,
            `when ${rpcName} is set: the ${coin} price in USD each order locks, e.g. 73.21`,
          )
        : r.decimal(priceName, undefined);
    if (rpcUrl && usdPrice) utxo.push({ coin, network, rpcUrl, confirmations, usdPrice, pollMs });
  }
  return { utxo };
}
