import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Db } from "../db/types.ts";
import { BitcoinCoreAdapter, type UtxoChainAdapter } from "../utxo/adapter.ts";
import { UTXO_CURRENCIES, type UtxoCurrency } from "../utxo/networks.ts";
import { createRpcClient } from "../utxo/rpc.ts";
import type { EletroPayConfig } from "../config/eletropay.ts";
import { ethAssets, issueEthAddress, type EletroPayEthChain } from "./eth.ts";
import { eletropayApp } from "./routes.ts";
import {
  createEletroPayService,
  silentLogger,
  type EletroPayService,
  type EthIssuer,
  type Logger,
} from "./service.ts";
import { createEletroPayWatcher, type EletroPayWatcher } from "./watcher.ts";

export { clientCallbackKeys, gapLimitStatus } from "./service.ts";
export { eletropayDepositSink, linkEletroPayClient } from "./eth.ts";

export interface EletroPay {
  adapters: Partial<Record<UtxoCurrency, UtxoChainAdapter>>;
  service: EletroPayService;
  watcher: EletroPayWatcher;
  /** The private API, ready to `listen({ host: config.host, port: config.port })`. */
  app: FastifyInstance;
}

/**
 * Wires adapters (one per configured currency), the service, the watcher and the private API; with
 * ELETROPAY_ETH, `eth` is the chain whose deposit addresses ETH and token requests get (the
 * callbacks come from eletropayDepositSink in that chain's indexer).
 */
export async function createEletroPay(deps: {
  db: Db;
  config: EletroPayConfig;
  logger?: FastifyBaseLogger;
  adapters?: Partial<Record<UtxoCurrency, UtxoChainAdapter>>;
  eth?: EletroPayEthChain | undefined;
}): Promise<EletroPay> {
  const { db, config } = deps;
  const log: Logger = deps.logger ?? silentLogger;
  const adapters: Partial<Record<UtxoCurrency, UtxoChainAdapter>> = { ...deps.adapters };
  for (const currency of UTXO_CURRENCIES) {
    const cc = config.currencies[currency];
    if (cc && !adapters[currency]) {
      adapters[currency] = new BitcoinCoreAdapter({ currency, rpc: createRpcClient(cc.rpcUrl), log });
    }
  }
  let eth: EthIssuer | undefined;
  if (config.eth && deps.eth) {
    const chain = deps.eth;
    const assets = ethAssets(chain, UTXO_CURRENCIES);
    eth = {
      currencies: [...assets.keys()],
      issue: (clientId, currency) => issueEthAddress(db, chain, clientId, assets.get(currency)!),
    };
  }
  const service = createEletroPayService({ db, config, adapters, eth, log });
  const watcher = createEletroPayWatcher({ db, config, adapters, service, log });
  const app = await eletropayApp({ config, service, ...(deps.logger ? { logger: deps.logger } : {}) });
  return { adapters, service, watcher, app };
}
