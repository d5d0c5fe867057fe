import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "mocha";
import {
  IGNITION_DEPLOYMENTS_DIR,
  ignitionDeploymentDir,
  readIgnitionDeployment,
} from "../../server/src/chain/deployment.ts";
import type { Env } from "../../server/src/config/index.ts";
import { ConfigError } from "../../server/src/lib/errors.ts";
import { startSystem } from "../../server/src/system.ts";
import { createTestChain } from "../support/chain.ts";
import { testConfig } from "../support/config.ts";
import { createTestDb, type TestDb } from "../support/db.ts";

/**
 * `npm start` leaves its Ignition deployment in ignition/deployments/chain-31337 (the dev stack's
 * mock USDC, feed and contract). Every Hardhat node is chain 31337, so a server under test on its
 * own node used to read that deployment and accept the dev stack's USDC as a token it was never
 * given: after `npm start`, `npm test` failed (the point of sale showed a token choice). A local
 * chain's deployment is now read only from IGNITION_DEPLOYMENT_DIR, which `npm start` sets.
 */
describe("Ignition deployments: a server on a local chain reads only the one it is given", function () {
  let chain: Awaited<ReturnType<typeof createTestChain>>;
  let testDb: TestDb;
  let tmp: string;
  /** The dev stack's deployment, as `npm start` leaves it; written by this test only if absent. */
  const devStackDir = `${IGNITION_DEPLOYMENTS_DIR}/chain-31337`;
  let wroteDevStackDir = false;

  const write = (dir: string, addresses: Record<string, string>) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "deployed_addresses.json"), JSON.stringify(addresses, null, 2));
  };
  const start = (env: Env) =>
    startSystem(
      testConfig({
        // Start-up finds the start block (in the deployment, too); the SSRF guard as production has it.
        START_BLOCK: undefined,
        FINALITY_BLOCKS: undefined,
        CALLBACK_ALLOW_PRIVATE: undefined,
        ETH_USD_PRICE: "3000",
        ...env,
      }),
      { db: testDb.db, client: chain.client, listen: false },
    );
  /** The error start-up stops with; a system that starts instead is closed, and the answer is undefined. */
  const startError = async (env: Env): Promise<Error | undefined> => {
    try {
      await (await start(env)).close();
      return undefined;
    } catch (error) {
      return error as Error;
    }
  };

  before(async function () {
    chain = await createTestChain();
    assert.equal(await chain.client.getChainId(), 31337, "the test chain is a local chain");
    testDb = await createTestDb();
    tmp = mkdtempSync(join(tmpdir(), "ethpos-ignition-"));
    // A dev stack that ran (or runs) in this clone has left its deployment there: use it as it is.
    // Otherwise lay one down the way it would, with this chain's real contracts at those addresses.
    if (!existsSync(join(devStackDir, "deployed_addresses.json"))) {
      write(devStackDir, {
        "EthereumPos#PaymentProcessor": chain.contractAddress,
        "LocalDev#MockStablecoin": chain.stablecoinAddress,
        "LocalDev#MockV3Aggregator": chain.contractAddress,
      });
      wroteDevStackDir = true;
    }
  });

  after(async function () {
    if (wroteDevStackDir) rmSync(devStackDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
    await testDb?.drop();
    await chain?.close();
  });

  it("a server on chain 31337 with no TOKENS takes no token from the dev stack's deployment", async function () {
    const system = await start({ CONTRACT_ADDRESS: chain.contractAddress });
    try {
      assert.deepEqual(system.tokens, [], "no token the test did not configure");
    } finally {
      await system.close();
    }
  });

  it("with no CONTRACT_ADDRESS either, start-up names CONTRACT_ADDRESS and IGNITION_DEPLOYMENT_DIR", async function () {
    const error = await startError({});
    assert.ok(error instanceof ConfigError, `start-up stops with a configuration error, got ${error}`);
    assert.match(error.message, /CONTRACT_ADDRESS is not set/);
    assert.match(error.message, /IGNITION_DEPLOYMENT_DIR=ignition\/deployments\/chain-31337/);
  });

  it("reads the contract and the local token from the deployment IGNITION_DEPLOYMENT_DIR names", async function () {
    const dir = join(tmp, "dev-stack");
    write(dir, {
      "EthereumPos#PaymentProcessor": chain.contractAddress,
      "LocalDev#MockStablecoin": chain.stablecoinAddress,
    });
    const system = await start({ IGNITION_DEPLOYMENT_DIR: dir });
    try {
      assert.equal(system.contract.toLowerCase(), chain.contractAddress.toLowerCase());
      assert.deepEqual(
        system.tokens.map((t) => [t.symbol, t.address.toLowerCase(), t.decimals]),
        [["USDC", chain.stablecoinAddress.toLowerCase(), 6]],
      );
    } finally {
      await system.close();
    }
  });

  it("an IGNITION_DEPLOYMENT_DIR without a deployment stops start-up, naming the variable and the directory", async function () {
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    const error = await startError({
      CONTRACT_ADDRESS: chain.contractAddress,
      IGNITION_DEPLOYMENT_DIR: empty,
    });
    assert.ok(error instanceof ConfigError, `start-up stops with a configuration error, got ${error}`);
    assert.ok(error.message.includes(`IGNITION_DEPLOYMENT_DIR is ${empty}`), error.message);
    assert.match(error.message, /no deployed_addresses\.json/);
  });

  it("a public chain still finds an operator's deployment by its chain id; a local chain finds none", function () {
    assert.equal(ignitionDeploymentDir(11155111n, undefined), `${IGNITION_DEPLOYMENTS_DIR}/chain-11155111`);
    assert.equal(ignitionDeploymentDir(31337n, undefined), undefined);
    assert.equal(ignitionDeploymentDir(1337n, undefined), undefined);
    assert.equal(ignitionDeploymentDir(31337n, "/x/dev"), "/x/dev");
    assert.equal(ignitionDeploymentDir(1n, "/x/mainnet"), "/x/mainnet");
    assert.deepEqual(readIgnitionDeployment(undefined), {});
    assert.deepEqual(
      readIgnitionDeployment(join(tmp, "absent")),
      {},
      "an unnamed absent deployment is no error",
    );
  });
});
