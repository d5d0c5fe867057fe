/**
 * Network names as the customer pages write them (pay-view.ts chainNameIn): testnets and local
 * chains in each language; mainnet names (Ethereum, Base, Arbitrum One…) are names, not words.
 * The pages put them after "na rede" / "en la red", so those languages leave the word out here.
 */
import { defineMessages } from "../index.ts";

export const CHAIN_MESSAGES = defineMessages({
  en: {
    chain_testnet: "{name} testnet",
    chain_local: "{name} local chain",
    chain_local_plain: "Local chain",
    chain_other: "Chain {id}",
  },
  "pt-BR": {
    chain_testnet: "{name} (de testes)",
    chain_local: "{name} (local)",
    chain_local_plain: "local",
    chain_other: "nº {id}",
  },
  es: {
    chain_testnet: "{name} (de pruebas)",
    chain_local: "{name} (local)",
    chain_local_plain: "local",
    chain_other: "n.º {id}",
  },
});
