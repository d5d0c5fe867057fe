import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { ConfigProblems, loadConfig, type ChainConfig } from "../../server/src/config/index.ts";
import { sequencerStatus } from "../../server/src/pricing/sequencer.ts";
import {
  ARBITRUM_L1_GAS_PER_BYTE,
  ARBITRUM_TX_FIXED_BYTES,
  arbitrumFeeBreakdown,
  arbitrumL1Cost,
} from "../../server/src/sender/l1-fee.ts";

/** The one chain of `env` (CHAINS=<name>), with an RPC URL. */
function chainOf(name: string, env: Record<string, string> = {}): ChainConfig {
  const prefix = `CHAIN_${name.toUpperCase().replace(/-/g, "_")}_`;
  const config = loadConfig({ CHAINS: name, [`${prefix}RPC_URL`]: "https://rpc.example", ...env });
  return config.chains[0] as ChainConfig;
}

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigProblems, String(error));
    return error.problems;
  }
  assert.fail("the configuration was accepted");
}

/*
 * Figures from Arbitrum's "How to estimate gas in Arbitrum"
 * (https://docs.arbitrum.io/build-decentralized-apps/how-to-estimate-gas, section "Where do we get
 * all this information from?"):
 *   - P, the L2 gas price, "starts at 0.01 gwei on Arbitrum One";
 *   - L1P = l1BaseFeeEstimate × 16 (NodeInterface.gasEstimateComponents' fourth element × 16);
 *   - L1S: "Arbitrum adds a fixed amount to this number to make up for the static part of the
 *     transaction ... (140 bytes)"; the page's code notes L1S "is similar to 140 +
 *     utils.hexDataLength(txData)";
 *   - L1S = gasEstimateForL1 × P / L1P, L1C = L1P × L1S, B = L1C / P, G = L2G + B,
 *     TXFEES = P × G = P × (L2G + (L1P × L1S) / P).
 * The L1 base fee (30 gwei) and the calldata size (100 bytes) below are ours; the page gives no
 * example transaction.
 */
describe("Arbitrum's L1 fee formula (docs.arbitrum.io, How to estimate gas in Arbitrum)", function () {
  const P = 10_000_000n; // 0.01 gwei: the page's starting L2 gas price on Arbitrum One
  const l1BaseFeeEstimate = 30_000_000_000n; // 30 gwei
  const calldataBytes = 100n;
  const L1S = ARBITRUM_TX_FIXED_BYTES + calldataBytes; // 140 + 100 = 240 bytes

  it("uses the page's constants: 16 per posted byte, 140 fixed bytes", function () {
    assert.equal(ARBITRUM_L1_GAS_PER_BYTE, 16n);
    assert.equal(ARBITRUM_TX_FIXED_BYTES, 140n);
  });

  it("L1C = L1P × L1S and B = L1C / P, in wei and in L2 gas", function () {
    const { L1C, B } = arbitrumL1Cost(l1BaseFeeEstimate, L1S, P);
    // L1P = 30 gwei × 16 = 480 gwei per byte; × 240 bytes = 115,200 gwei.
    assert.equal(L1C, 115_200_000_000_000n);
    // At 0.01 gwei per L2 gas that is 11,520,000 gas of buffer in the gas limit.
    assert.equal(B, 11_520_000n);
  });

  it("recovers the formula's parts from NodeInterface.gasEstimateComponents' answer", function () {
    const L2G = 21_000n + 16n * calldataBytes; // what the call itself uses on L2
    const B = 11_520_000n;
    const parts = arbitrumFeeBreakdown({
      gasEstimate: L2G + B,
      gasEstimateForL1: B,
      baseFee: P,
      l1BaseFeeEstimate,
    });
    assert.equal(parts.P, P);
    assert.equal(parts.L2G, L2G);
    assert.equal(parts.L1P, 480_000_000_000n);
    assert.equal(parts.L1S, L1S, "L1S = gasEstimateForL1 × P / L1P = 240 bytes");
    assert.equal(parts.L1C, 115_200_000_000_000n);
    assert.equal(parts.B, B);
    assert.equal(parts.G, L2G + B);
    // TXFEES = P × (L2G + L1P × L1S / P): the L2 part and the L1 part.
    assert.equal(parts.TXFEES, P * L2G + 115_200_000_000_000n);
    assert.equal(parts.TXFEES, 115_426_000_000_000n);
  });

  it("the L1 part dominates a small transaction at the starting L2 gas price", function () {
    const parts = arbitrumFeeBreakdown({
      gasEstimate: 22_600n + 11_520_000n,
      gasEstimateForL1: 11_520_000n,
      baseFee: P,
      l1BaseFeeEstimate,
    });
    assert.ok(parts.L1C > 100n * (parts.P * parts.L2G), "L1 data costs over 100× the L2 execution here");
  });
});

describe("sequencer uptime status (Chainlink: 0 up, 1 down; startedAt = when the status changed)", function () {
  const now = 1_800_000_000;
  it("down while the feed answers 1, however long ago it went down", function () {
    assert.deepEqual(sequencerStatus(1n, BigInt(now - 86_400), now, 3_600), {
      state: "down",
      since: now - 86_400,
    });
  });
  it("in its grace period for graceSeconds after it came back, with the time left", function () {
    assert.deepEqual(sequencerStatus(0n, BigInt(now - 600), now, 3_600), {
      state: "grace",
      since: now - 600,
      remainingSeconds: 3_000,
    });
    assert.equal(sequencerStatus(0n, BigInt(now - 3_599), now, 3_600).state, "grace");
  });
  it("up once graceSeconds have passed; no grace with SEQUENCER_GRACE_SECONDS=0", function () {
    assert.equal(sequencerStatus(0n, BigInt(now - 3_600), now, 3_600).state, "up");
    assert.equal(sequencerStatus(0n, BigInt(now), now, 0).state, "up");
  });
  it("refuses an answer that is neither 0 nor 1", function () {
    assert.throws(() => sequencerStatus(2n, 1n, now, 3_600), /not 0 \(up\) or 1 \(down\)/);
  });
});

describe("configuration: L1_DATA_FEE, SEQUENCER_GRACE_SECONDS, per-feed staleness, PEG_*", function () {
  it("L1_DATA_FEE comes from the preset: op on OP-stack chains, arbitrum on Arbitrum, none on L1s", function () {
    assert.equal(chainOf("base").l1DataFee, "op");
    assert.equal(chainOf("op-sepolia").l1DataFee, "op");
    assert.equal(chainOf("arbitrum").l1DataFee, "arbitrum");
    assert.equal(chainOf("ethereum").l1DataFee, "none");
    assert.equal(chainOf("polygon").l1DataFee, "none");
    assert.equal(chainOf("base", { CHAIN_BASE_L1_DATA_FEE: "none" }).l1DataFee, "none");
    assert.ok(chainOf("base").preset?.supplied.includes("L1_DATA_FEE"));
    assert.equal(loadConfig({ L1_DATA_FEE: "op" }).chains[0]?.l1DataFee, "op");
    assert.equal(loadConfig({}).chains[0]?.l1DataFee, "none");
    assert.deepEqual(problemsOf({ L1_DATA_FEE: "optimism" }), [
      'L1_DATA_FEE must be one of op, arbitrum, none, got "optimism"',
    ]);
  });

  it("SEQUENCER_GRACE_SECONDS defaults to 3600 and is per chain", function () {
    assert.equal(chainOf("base").sequencerGraceSeconds, 3_600);
    assert.equal(chainOf("base", { CHAIN_BASE_SEQUENCER_GRACE_SECONDS: "0" }).sequencerGraceSeconds, 0);
    assert.equal(chainOf("base", { SEQUENCER_GRACE_SECONDS: "1800" }).sequencerGraceSeconds, 1_800);
  });

  it("each token feed is judged against its own heartbeat: USDC/USD 24 h + 10 %, ETH/USD 1 h + 10 %", function () {
    const chain = chainOf("ethereum");
    assert.equal(chain.priceMaxAgeSeconds, 3_960);
    assert.deepEqual(
      chain.tokens.map((t) => [t.symbol, t.feedMaxAgeSeconds]),
      [
        ["USDC", 95_040],
        ["USDT", 95_040],
      ],
    );
  });

  it("TOKEN_PRICE_MAX_AGE_SECONDS overrides one feed; PRICE_MAX_AGE_SECONDS stays the ETH/USD feed's", function () {
    const chain = chainOf("ethereum", {
      CHAIN_ETHEREUM_TOKEN_PRICE_MAX_AGE_SECONDS: "USDC:3600",
      PRICE_MAX_AGE_SECONDS: "7200",
    });
    assert.equal(chain.priceMaxAgeSeconds, 7_200);
    assert.deepEqual(
      chain.tokens.map((t) => [t.symbol, t.feedMaxAgeSeconds]),
      [
        ["USDC", 3_600],
        ["USDT", 95_040],
      ],
    );
  });

  it("a TOKEN_PRICE_MAX_AGE_SECONDS entry that would do nothing is a problem naming the fix", function () {
    const env = { CHAINS: "ethereum", CHAIN_ETHEREUM_RPC_URL: "https://rpc.example" };
    assert.deepEqual(problemsOf({ ...env, TOKEN_PRICE_MAX_AGE_SECONDS: "DAI:3600" }), [
      "TOKEN_PRICE_MAX_AGE_SECONDS sets a maximum age for DAI, but DAI is not in TOKENS; remove the entry",
    ]);
    assert.deepEqual(problemsOf({ ...env, TOKEN_PRICE_MAX_AGE_SECONDS: "USDC=3600" }), [
      'TOKEN_PRICE_MAX_AGE_SECONDS must list entries like "USDC:90000" (a symbol of TOKENS and a number of seconds, at least 1) separated by commas, got "USDC=3600"',
    ]);
    const base = { CHAINS: "base", CHAIN_BASE_RPC_URL: "https://rpc.example" };
    assert.deepEqual(problemsOf({ ...base, CHAIN_BASE_TOKEN_PRICE_MAX_AGE_SECONDS: "USDC:3600" }), [
      "CHAIN_BASE_TOKEN_PRICE_MAX_AGE_SECONDS sets a maximum age for USDC, but USDC has no USD feed here; remove the entry",
    ]);
  });

  it("PEG_MAX_DEVIATION takes 2% or 0.02 (default 2 %); PEG_POLICY quote (default) or refuse", function () {
    assert.deepEqual(chainOf("ethereum").peg, { maxDeviationPpm: 20_000n, policy: "quote" });
    assert.equal(chainOf("ethereum", { PEG_MAX_DEVIATION: "0.5%" }).peg.maxDeviationPpm, 5_000n);
    assert.equal(chainOf("ethereum", { PEG_MAX_DEVIATION: "0.03" }).peg.maxDeviationPpm, 30_000n);
    assert.equal(chainOf("ethereum", { PEG_POLICY: "refuse" }).peg.policy, "refuse");
    assert.deepEqual(problemsOf({ PEG_MAX_DEVIATION: "2" }), [
      'PEG_MAX_DEVIATION must be a share of the peg like 2% or 0.02 (at most 100%), got "2"',
    ]);
    assert.deepEqual(problemsOf({ PEG_POLICY: "ignore" }), [
      'PEG_POLICY must be one of quote, refuse, got "ignore"',
    ]);
  });
});
