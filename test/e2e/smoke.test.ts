import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "mocha";
import {
  encodeAbiParameters,
  getAddress,
  getContractAddress,
  keccak256,
  toHex,
  type Address,
  type Hex,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { startNodeChain } from "../support/node-chain.ts";

type NodeChain = Awaited<ReturnType<typeof startNodeChain>>;

const SEPOLIA = 11_155_111;
const MNEMONIC = "test test test test test test test test test test test junk"; // hardhat node's dev accounts
const INIT_CODE_HASH = "0x170705579b341e4926d5292dd690808fce74db546893c036007040cab888b4b4"; // docs/contracts.md
const STEP =
  /^(1 {2}pay|2a transfer|2b sweepOrder|3 {2}withdraw|4 {2}refund)\s+(0x[0-9a-f]{64}) {2}gas\s+([\d,]+) {2}(.*)$/gm;

function devAccount(index: number) {
  const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
  return { address: account.address, key: toHex(account.getHdKey().privateKey!) };
}

/** Independent derivation of a deposit address (viem, not the smoke script's ethers helper). */
function depositAddress(processor: Address, merchant: Address, orderId: Hex, chainId: number): Address {
  const salt = keccak256(
    encodeAbiParameters(
      [{ type: "address" }, { type: "bytes32" }, { type: "uint256" }],
      [merchant, orderId, BigInt(chainId)],
    ),
  );
  return getContractAddress({ opcode: "CREATE2", from: processor, salt, bytecodeHash: INIT_CODE_HASH });
}

/**
 * `npm run smoke` (the `smoke` task) as an auditor runs it, as a child process against a `hardhat node
 * --chain-id 11155111` posing as Sepolia through the `sepoliaLocal` network: a clean run passes with
 * every step's hash and gas printed, and a deposit address that held 1 wei before the run makes it
 * report the merchant's wrong balance and exit 1.
 */
describe("smoke test against a local node posing as Sepolia", function () {
  let chain: NodeChain;
  let deploymentId: string;

  function smoke(args: string[], env: Record<string, string> = {}) {
    return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(
        `${ROOT}node_modules/.bin/hardhat`,
        ["smoke", "--network", "sepoliaLocal", ...args],
        {
          cwd: ROOT,
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, SEPOLIA_LOCAL_RPC_URL: chain.url, ...env },
        },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, output }));
    });
  }

  before(async function () {
    chain = await startNodeChain({ chainId: SEPOLIA });
    assert.equal(await chain.client.getChainId(), SEPOLIA);
    deploymentId = `smoke-test-${chain.port}`;
  });

  after(async function () {
    await chain?.stop();
    if (deploymentId) rmSync(`${ROOT}ignition/deployments/${deploymentId}`, { recursive: true, force: true });
  });

  it("deploys with Ignition and passes every step with keys from configuration variables", async function () {
    const [payer, merchant, sweeper] = [devAccount(4), devAccount(5), devAccount(6)];
    const { code, output } = await smoke(["--deployment-id", deploymentId], {
      SMOKE_PAYER_KEY: payer.key,
      SMOKE_MERCHANT_KEY: merchant.key,
      SMOKE_SWEEPER_KEY: sweeper.key,
    });
    assert.equal(code, 0, output);
    assert.match(output, /^smoke test on sepoliaLocal \(chain 11155111\)$/m);
    assert.match(output, new RegExp(`payer {5}${payer.address} {2}\\(SMOKE_PAYER_KEY\\)`));
    assert.match(output, new RegExp(`merchant {2}${merchant.address} {2}\\(SMOKE_MERCHANT_KEY\\)`));
    assert.match(output, new RegExp(`sweeper {3}${sweeper.address} {2}\\(SMOKE_SWEEPER_KEY\\)`));
    assert.match(output, new RegExp(`deployed {2}ignition/deployments/${deploymentId} `));
    assert.match(output, /^\s+tx 0x[0-9a-f]{64} {2}gas [\d,]+$/m);

    // The printed deposit address is the documented CREATE2 derivation.
    const processor = getAddress(/processor (0x[0-9a-fA-F]{40})/.exec(output)![1]!);
    const orderId = /order {5}(0x[0-9a-f]{64})/.exec(output)![1] as Hex;
    const deposit = /deposit {3}(0x[0-9a-fA-F]{40})/.exec(output)![1]!;
    assert.equal(deposit, depositAddress(processor, merchant.address, orderId, SEPOLIA));

    // Five transactions, each printed with its hash, the gas the chain reports, and "ok".
    const steps = [...output.matchAll(STEP)];
    assert.deepEqual(
      steps.map((s) => s[1]),
      ["1  pay", "2a transfer", "2b sweepOrder", "3  withdraw", "4  refund"],
    );
    for (const [, , hash, gasUsed, result] of steps) {
      assert.match(result!, /^ok: /);
      const receipt = await chain.client.getTransactionReceipt({ hash: hash as Hex });
      assert.equal(receipt.status, "success");
      assert.equal(gasUsed!.replaceAll(",", ""), receipt.gasUsed.toString());
    }
    assert.equal(steps[1]![3], "21,000");
    const sweep = await chain.client.getTransaction({ hash: steps[2]![2] as Hex });
    assert.equal(sweep.from, sweeper.address.toLowerCase());

    // Balances: the merchant's contract balance is back where it started, the deposit address is empty.
    const balance = (await chain.client.readContract({
      address: processor,
      abi: chain.abi,
      functionName: "balanceOf",
      args: [merchant.address, "0x0000000000000000000000000000000000000000"],
    })) as bigint;
    assert.equal(balance, 0n);
    assert.equal(await chain.client.getBalance({ address: deposit as Address }), 0n);
    assert.match(
      output,
      /^ {2}merchant in contract balanceOf\(merchant, ETH\) {2}0\.0 ETH → 0\.0 ETH {2}ok/m,
    );
    assert.doesNotMatch(output, /MISMATCH/);
    assert.match(output, /^smoke test passed on sepoliaLocal \(chain 11155111\)$/m);
  });

  it("reuses a given Ignition deployment directory with the node's dev accounts", async function () {
    const { code, output } = await smoke(["--deployment", `ignition/deployments/${deploymentId}`]);
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`using {5}ignition/deployments/${deploymentId} \\(--deployment\\)`));
    assert.doesNotMatch(output, /deployed/);
    assert.match(output, new RegExp(`payer {5}${devAccount(1).address} {2}\\(network account #1\\)`));
    assert.equal([...output.matchAll(STEP)].length, 5);
    assert.match(output, /smoke test passed/);
  });

  it("passes with one key for every role (a single funded account), summing their balance changes", async function () {
    const one = devAccount(8);
    const { code, output } = await smoke(["--deployment", `ignition/deployments/${deploymentId}`], {
      SMOKE_PAYER_KEY: one.key,
      SMOKE_MERCHANT_KEY: one.key,
      SMOKE_SWEEPER_KEY: one.key,
    });
    assert.equal(code, 0, output);
    assert.match(output, /note: the sweeper is the merchant/);
    assert.match(output, new RegExp(`^ {2}payer\\+merchant\\+sweeper +${one.address} .* ok$`, "m"));
    assert.equal([...output.matchAll(STEP)].length, 5);
    assert.match(output, /smoke test passed/);
  });

  it("fails when the merchant's balance grows by more than the deposit", async function () {
    // Someone sent 1 wei to the order's deposit address before the run: the sweep credits it too.
    const orderId = keccak256(toHex("smoke-test wrong balance"));
    const merchant = devAccount(2).address; // the default merchant: dev account #2
    const deposit = depositAddress(chain.contract, merchant, orderId, SEPOLIA);
    const hash = await chain.wallet.sendTransaction({
      account: devAccount(9).address,
      to: deposit,
      value: 1n,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash });

    const { code, output } = await smoke(["--deployment", chain.contract, "--order-id", orderId]);
    assert.equal(code, 1, output);
    assert.match(
      output,
      /^2b sweepOrder .* MISMATCH merchant's balance in the contract changed by \+0\.000100000000000001 ETH, expected \+0\.0001 ETH/m,
    );
    assert.match(
      output,
      /^2a transfer .* MISMATCH deposit address holds 0\.000100000000000001 ETH, expected 0\.0001 ETH/m,
    );
    assert.match(output, /^smoke test FAILED: \d+ mismatch\(es\)$/m);
    assert.doesNotMatch(output, /smoke test passed/);
  });

  it("fails when the deployment is not a contract", async function () {
    const { code, output } = await smoke(["--deployment", devAccount(7).address]);
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`error: no contract code at ${devAccount(7).address} on chain 11155111`));
    assert.doesNotMatch(output, /^1 {2}pay/m);
  });
});
