// The `deploy` task: deploys EthereumPos to a preset network through Ignition (the steps are in
// scripts/deploy.ts).
//
//   npm run deploy -- --network base-sepolia
//
// Only the definition lives here, so that loading hardhat.config.ts stays cheap; Hardhat imports the
// action when the task runs.
import { task } from "hardhat/config";

export const deployTask = task(
  "deploy",
  "Deploy EthereumPos to a preset network (--network base-sepolia …) with Ignition, allowlist the preset's tokens, verify, and print the lines that start the server",
)
  .addOption({
    name: "deploymentId",
    description: "Ignition deployment id (default: chain-<id>, which the server reads by itself)",
    defaultValue: "",
  })
  .addFlag({
    name: "noVerify",
    description: "Skip verification on the chain's block explorer",
  })
  .setAction(() => import("../deploy.ts"))
  .build();
