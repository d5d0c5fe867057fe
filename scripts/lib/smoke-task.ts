// The `smoke` task: a live-network smoke test for auditors (the steps are in scripts/smoke.ts).
//
//   npm run smoke -- --network sepolia          (any chain preset: base-sepolia, ethereum, …)
//   npm run smoke -- --network sepoliaLocal --deployment ignition/deployments/smoke-sepoliaLocal
//
// Only the definition lives here, so that loading hardhat.config.ts stays cheap; Hardhat imports the
// action when the task runs.
import { task } from "hardhat/config";

export const smokeTask = task(
  "smoke",
  "Live-network smoke test: pay, a plain transfer to a deposit address and its sweep, withdraw, refund; checks every balance",
)
  .addOption({
    name: "deployment",
    description:
      "Use this PaymentProcessor instead of deploying: its address, or an Ignition deployment directory (deployed_addresses.json)",
    defaultValue: "",
  })
  .addOption({
    name: "deploymentId",
    description: "Ignition deployment id when deploying (default: smoke-<network>, reused by later runs)",
    defaultValue: "",
  })
  .addFlag({
    name: "fresh",
    description: "Deploy anew under a new deployment id (smoke-<network>-<unix time>)",
  })
  .addOption({
    name: "amount",
    description: "ETH paid with `pay` and again sent to the deposit address (decimal ETH)",
    defaultValue: "0.0001",
  })
  .addOption({
    name: "orderId",
    description: "Order reference: a 0x bytes32 or a decimal id (default: a fresh random bytes32)",
    defaultValue: "",
  })
  .setAction(() => import("../smoke.ts"))
  .build();
