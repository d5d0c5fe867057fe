import { fileURLToPath } from "node:url";
import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { configVariable, defineConfig } from "hardhat/config";

import { PRESETS } from "./server/src/config/presets.ts";
import { deployTask } from "./scripts/lib/deploy-task.ts";
import { localChainUrl } from "./scripts/lib/dev-stack.ts";
import { smokeTask } from "./scripts/lib/smoke-task.ts";
import { merchantTasks } from "./scripts/tasks/merchant.ts";

// Compiler downloads are not possible on these machines; the npm `solc` package
// ships the exact compiler as wasm. Hardhat needs an absolute path to it.
const SOLC_PATH = fileURLToPath(import.meta.resolve("solc/soljson.js"));
const ROOT = fileURLToPath(new URL(".", import.meta.url));

// Fuzz and invariant run counts: FOUNDRY-style knobs, overridable from the environment
// so CI can run the heavier profile (>= 10,000 runs) and local runs stay quick.
const FUZZ_RUNS = Number.parseInt(process.env.FUZZ_RUNS ?? "1000", 10);
const INVARIANT_RUNS = Number.parseInt(process.env.INVARIANT_RUNS ?? "256", 10);
const INVARIANT_DEPTH = Number.parseInt(process.env.INVARIANT_DEPTH ?? "50", 10);

// One network per chain preset (server/src/config/presets.ts, docs/chains.md), named like it:
// `npm run deploy -- --network base-sepolia`, `npm run smoke -- --network base-sepolia`. The RPC URL and
// the key are configuration variables: BASE_SEPOLIA_RPC_URL and BASE_SEPOLIA_PRIVATE_KEY (keystore first,
// then the environment). The chain id refuses an RPC URL of another chain.
const presetNetworks = Object.fromEntries(
  PRESETS.map((preset) => {
    const variable = preset.name.toUpperCase().replace(/-/g, "_");
    return [
      preset.name,
      {
        type: "http",
        chainType: preset.l1DataFee === "op" ? "op" : preset.l2 ? "generic" : "l1",
        chainId: preset.chain.id,
        url: configVariable(`${variable}_RPC_URL`),
        accounts: [configVariable(`${variable}_PRIVATE_KEY`)],
      } as const,
    ];
  }),
);

export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  // Merchant CLI: merchant:balance, merchant:withdraw, merchant:refund (see docs/contracts.md), the
  // live-network smoke test `smoke` (scripts/smoke.ts) and `deploy` to a preset network (scripts/deploy.ts).
  tasks: [...merchantTasks, smokeTask, deployTask],
  solidity: {
    profiles: {
      default: {
        version: "0.8.30",
        path: SOLC_PATH,
        settings: {
          optimizer: { enabled: true, runs: 1_000_000 },
          evmVersion: "cancun",
        },
      },
      // `npm run mutate` only: the same compiler without the optimizer, which halves each mutant's
      // compile and changes no behaviour (the baseline run checks the tests pass in this profile too).
      mutation: {
        version: "0.8.30",
        path: SOLC_PATH,
        settings: { optimizer: { enabled: false }, evmVersion: "cancun" },
      },
      production: {
        version: "0.8.30",
        path: SOLC_PATH,
        settings: {
          optimizer: { enabled: true, runs: 1_000_000 },
          evmVersion: "cancun",
        },
      },
    },
  },
  // Test-only contracts (mocks, attack contracts, the gas-benchmark references) are not product code, and
  // the start-up probes (contracts/probes/) are never deployed: they run only in simulated calls.
  coverage: {
    skipFiles: ["contracts/mocks/**", "contracts/probes/**"],
  },
  paths: {
    tests: {
      mocha: "test",
      solidity: "test/contracts",
    },
  },
  test: {
    solidity: {
      fuzz: { runs: FUZZ_RUNS },
      invariant: { runs: INVARIANT_RUNS, depth: INVARIANT_DEPTH },
    },
    mocha: {
      timeout: 120_000,
    },
  },
  networks: {
    localhost: {
      type: "http",
      chainType: "l1",
      // `--network localhost` is the chain `npm start` runs: its URL comes from .data/dev-stack.json,
      // so a DEV_CHAIN_PORT given to npm start is followed. LOCAL_RPC_URL overrides it (npm start sets it
      // for its own Ignition deployment); with neither, the hardhat node default port.
      url: process.env.LOCAL_RPC_URL ?? localChainUrl(ROOT) ?? "http://127.0.0.1:8545",
    },
    ...presetNetworks,
    // A simulated OP-stack chain (EDR: the GasPriceOracle and L1Block predeploys, an L1 data fee on
    // every transaction's receipt and balance): `hardhat node --network opLocal` serves it over
    // JSON-RPC, for rehearsing L1_DATA_FEE=op (docs/chains.md, "L2 fees").
    opLocal: {
      type: "edr-simulated",
      chainType: "op",
    },
    // A local `hardhat node --chain-id 11155111` posing as Sepolia, to rehearse `npm run smoke -- --network
    // sepolia` with the dev accounts: SEPOLIA_LOCAL_RPC_URL, else the hardhat node default port.
    sepoliaLocal: {
      type: "http",
      chainType: "l1",
      chainId: 11155111,
      url: process.env.SEPOLIA_LOCAL_RPC_URL ?? "http://127.0.0.1:8545",
    },
  },
  verify: {
    etherscan: {
      apiKey: configVariable("ETHERSCAN_API_KEY"),
    },
  },
});
