import { spawn, type ChildProcess } from "node:child_process";
import type { Env } from "../../server/src/config/index.ts";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { testEnv } from "./config.ts";

/**
 * The server as production runs it (`npm run serve`: node server/src/main.ts) in a child process,
 * for tests that kill it or run several: its environment is PATH and the test defaults
 * (test/support/config.ts) with `env` on top, and nothing else of the runner's (no DATABASE_URL
 * unless given). Unlike a test's own system it indexes and delivers callbacks unless `env` says
 * otherwise. Its output goes nowhere but its stderr, to the runner's.
 */
export function spawnServer(env: Env): ChildProcess {
  return spawn(`${ROOT}node_modules/.bin/node`, [`${ROOT}server/src/main.ts`], {
    env: {
      PATH: process.env.PATH ?? "",
      ...testEnv({ RUN_INDEXER: undefined, RUN_CALLBACK_WORKER: undefined, ...env }),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}
