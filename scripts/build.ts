// Compiles the contracts with `hardhat build` and treats every compiler warning as an error.
// Hardhat 3 has no built-in switch for that, so this wrapper reads the compiler output.
import { spawnSync } from "node:child_process";
import { buildWeb } from "./build-web.ts";

const result = spawnSync("hardhat", ["build", ...process.argv.slice(2)], {
  encoding: "utf8",
  stdio: ["inherit", "pipe", "pipe"],
});
const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
process.stdout.write(result.stdout ?? "");
process.stderr.write(result.stderr ?? "");

if (result.status !== 0) process.exit(result.status ?? 1);
if (/\bWarning:/i.test(output)) {
  console.error("\nbuild: Solidity compiler warnings are errors in this project; fix the warnings above.");
  process.exit(1);
}

// The browser bundles of the console and the point of sale (scripts/build-web.ts).
await buildWeb();
