import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "mocha";
import { parseAbi, toHex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { describeVerificationFailure } from "../../scripts/deploy.ts";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { findPreset } from "../../server/src/config/presets.ts";
import { freePort, startNodeChain } from "../support/node-chain.ts";
import { startNodeSystem } from "../support/node-system.ts";
import { ONLY_GIVEN_CHAINS } from "../support/config.ts";

type Node = Awaited<ReturnType<typeof startNodeChain>>;

const MNEMONIC = "test test test test test test test test test test test junk"; // hardhat node's dev accounts
const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
const preset = findPreset("base-sepolia")!;
const USDC = preset.tokens[0]!.address;

const devKey = (index: number) =>
  toHex(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey!);

/** A Hardhat task of this project as an operator runs it, as a child process; its output and exit code. */
function hardhat(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(`${ROOT}node_modules/.bin/hardhat`, args, {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
  });
}

/** Puts a compiled mock's runtime code and first storage slots at `at` (see preset-node.test.ts). */
async function placeAt(node: Node, path: string, at: `0x${string}`) {
  const deployed = await node.deploy(path);
  await node.rpc("hardhat_setCode", [at, await node.client.getCode({ address: deployed })]);
  for (let i = 0; i < 8; i++) {
    const slot = toHex(i, { size: 32 });
    const value = await node.client.getStorageAt({ address: deployed, slot });
    if (value !== undefined && BigInt(value) !== 0n)
      await node.rpc("hardhat_setStorageAt", [at, slot, value]);
  }
}

/**
 * `npm run deploy -- --network base-sepolia` (the `deploy` task) against a `hardhat node --chain-id
 * 84532` through the preset's own network, its RPC URL and key given as the configuration variables
 * BASE_SEPOLIA_RPC_URL and BASE_SEPOLIA_PRIVATE_KEY, with no explorer key: it deploys, allowlists the
 * preset's USDC, skips verification saying so, and prints lines that start the server as printed.
 */
describe("npm run deploy against a node posing as Base Sepolia", function () {
  this.timeout(300_000);
  let node: Node;
  let deploymentId: string;
  let output: string;
  before(async function () {
    node = await startNodeChain({ chainId: preset.chain.id });
    await placeAt(node, "mocks/MockStablecoin.sol/MockStablecoin.json", USDC);
    await placeAt(node, "mocks/Multicall3.sol/Multicall3.json", MULTICALL3);
    deploymentId = `deploy-test-${node.port}`;
    const run = await hardhat(["deploy", "--network", "base-sepolia", "--deployment-id", deploymentId], {
      BASE_SEPOLIA_RPC_URL: node.url,
      BASE_SEPOLIA_PRIVATE_KEY: devKey(0),
      // Set (empty), so that the keystore is not asked: no explorer key.
      ETHERSCAN_API_KEY: "",
    });
    output = run.output;
    assert.equal(run.code, 0, output);
  });
  after(async function () {
    await node?.stop();
    if (deploymentId) rmSync(`${ROOT}ignition/deployments/${deploymentId}`, { recursive: true, force: true });
  });

  it("deploys through Ignition, allowlists the preset's USDC and skips verification with a clear line", async function () {
    assert.match(output, /^deploying EthereumPos to base-sepolia \(Base Sepolia, chain 84532\) from 0x/m);
    assert.match(output, new RegExp(`^ {2}allowlisting USDC ${USDC} \\(preset base-sepolia\\)$`, "m"));
    assert.match(
      output,
      new RegExp(
        `^ {2}verification skipped: no ETHERSCAN_API_KEY; set it with \`npx hardhat keystore set ETHERSCAN_API_KEY\`, then run npx hardhat ignition verify ${deploymentId} --network base-sepolia$`,
        "m",
      ),
    );
    const processor = /^ {2}PaymentProcessor (0x[0-9a-fA-F]{40}) {2}\(block (\d+)\)$/m.exec(output);
    assert.ok(processor, output);
    const allowed = await node.client.readContract({
      address: processor[1] as `0x${string}`,
      abi: parseAbi(["function isTokenAllowed(address) view returns (bool)"]),
      functionName: "isTokenAllowed",
      args: [USDC],
    });
    assert.equal(allowed, true);
    assert.doesNotMatch(output, new RegExp(node.url.replace(/[.]/g, "\\.")), "the RPC URL is never printed");
  });

  it("prints lines that start the server against the deployment", async function () {
    const exports = [...output.matchAll(/^ {2}export ([A-Z0-9_]+)=(.*)$/gm)].map(
      (m) => [m[1] ?? "", m[2] ?? ""] as const,
    );
    const feed = await node.deploy("mocks/MockV3Aggregator.sol/MockV3Aggregator.json", [8, 3000_00000000n]);
    // What the operator fills in: the RPC URL from where the lines say, the feed the preset does not ship.
    const env = Object.fromEntries(
      exports
        .filter(([k]) => k !== "DATABASE_URL")
        .map(([k, v]) => [
          k,
          v === '"$BASE_SEPOLIA_RPC_URL"' ? node.url : k.endsWith("PRICE_FEED_ADDRESS") ? feed : v,
        ]),
    );
    assert.deepEqual(Object.keys(env), [
      "CHAINS",
      "CHAIN_BASE_SEPOLIA_RPC_URL",
      "CHAIN_BASE_SEPOLIA_CONTRACT_ADDRESS",
      "CHAIN_BASE_SEPOLIA_START_BLOCK",
      "CHAIN_BASE_SEPOLIA_PRICE_FEED_ADDRESS",
    ]);
    assert.match(output, /^ {2}npm run serve$/m);
    // Only what the deployment printed configures the chain.
    const started = await startNodeSystem({
      chain: node,
      env: { ...ONLY_GIVEN_CHAINS, PUBLIC_URL: "http://pos.test", ...env },
    });
    const { system } = started;
    try {
      const [chain] = system.chains;
      assert.equal(chain?.name, "base-sepolia");
      assert.equal(chain?.contract, env.CHAIN_BASE_SEPOLIA_CONTRACT_ADDRESS);
      assert.deepEqual(
        chain?.tokens.map((token) => token.address),
        [USDC],
      );
    } finally {
      await started.close();
    }
  });

  it("npm run smoke works on the preset network too", async function () {
    const run = await hardhat(
      ["smoke", "--network", "base-sepolia", "--deployment", `ignition/deployments/${deploymentId}`],
      {
        BASE_SEPOLIA_RPC_URL: node.url,
        BASE_SEPOLIA_PRIVATE_KEY: devKey(0),
        SMOKE_PAYER_KEY: devKey(1),
        SMOKE_MERCHANT_KEY: devKey(2),
        SMOKE_SWEEPER_KEY: devKey(3),
      },
    );
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /^ {2}preset {4}base-sepolia: Base Sepolia$/m);
    assert.match(run.output, /^smoke test passed on base-sepolia \(chain 84532\)$/m);
  });
});

describe("deploy: verification when the explorer cannot be reached", function () {
  it("is skipped with one line saying so, not a failed deployment", async function () {
    const port = await freePort(); // nothing listens there
    const error = await fetch(`http://127.0.0.1:${port}/api`).then(
      () => assert.fail("nothing should answer"),
      (e: unknown) => e,
    );
    assert.match(
      describeVerificationFailure(error),
      /^verification skipped: the block explorer is unreachable \(fetch failed\)$/,
    );
    assert.equal(
      describeVerificationFailure(new Error("Invalid API Key (#err2)|BASE-SEPOLIA")),
      "verification failed: Invalid API Key (#err2)|BASE-SEPOLIA",
    );
  });
});
