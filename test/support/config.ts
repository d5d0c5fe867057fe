import { loadConfig, type Config, type Env, type Machine } from "../../server/src/config/index.ts";

/**
 * What every test's configuration starts from, in one place:
 * - NODE_ENV=test (silent logs, test-only checks relaxed);
 * - CALLBACK_ALLOW_PRIVATE=true: tests deliver to loopback receivers (the guard is on by default,
 *   and the tests of the guard set it back to "false");
 * - RUN_INDEXER=false and RUN_CALLBACK_WORKER=false: the test steps the production pipeline and
 *   the callback worker itself (a test of the running system sets them to "true");
 * - START_BLOCK=0 and FINALITY_BLOCKS=16: a test chain starts at block 0 and reorgs stay shallow;
 * - ETH_USD_PRICE=2000: a fixed price, no oracle.
 * An override of `undefined` removes a default (the variable is then unset, as in production).
 */
export const TEST_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: "test",
  CALLBACK_ALLOW_PRIVATE: "true",
  RUN_INDEXER: "false",
  RUN_CALLBACK_WORKER: "false",
  START_BLOCK: "0",
  FINALITY_BLOCKS: "16",
  ETH_USD_PRICE: "2000",
};

/** The test defaults (TEST_ENV) with `overrides` on top, as the environment loadConfig reads. */
export function testEnv(overrides: Env = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...TEST_ENV, ...overrides }))
    if (value !== undefined) env[name] = value;
  return env;
}

/** The validated configuration of a test: loadConfig over the test defaults and `overrides`. */
export function testConfig(overrides: Env = {}, machine?: Machine): Config {
  return loadConfig(testEnv(overrides), machine);
}

/**
 * Overrides for a system configured only by the chain variables the test gives (CHAINS and
 * CHAIN_<NAME>_*, a preset, what a deployment printed): no default chain of the node system
 * (RPC_URL, CONTRACT_ADDRESS), none of TEST_ENV's chain settings, and the system's own indexer
 * running, as under `npm run serve`.
 */
export const ONLY_GIVEN_CHAINS: Env = {
  RPC_URL: undefined,
  CONTRACT_ADDRESS: undefined,
  START_BLOCK: undefined,
  FINALITY_BLOCKS: undefined,
  ETH_USD_PRICE: undefined,
  RUN_INDEXER: undefined,
};
