/**
 * `npm audit` of the production dependencies for CI: fails on any high or critical advisory. When
 * the registry's audit endpoint cannot be reached the audit did not run: that is said loudly (never
 * a silent pass) and fails too when AUDIT_REQUIRED=1. Accepted advisories are listed, with the
 * reason, in docs/security.md ("Dependencies"); none is accepted today.
 */
import { spawnSync } from "node:child_process";

const run = spawnSync("npm", ["audit", "--omit=dev", "--json"], { encoding: "utf8", shell: false });
let report: {
  metadata?: { vulnerabilities?: Record<string, number> };
  vulnerabilities?: Record<string, { severity: string; via: unknown[] }>;
  error?: { summary?: string };
};
try {
  report = JSON.parse(run.stdout || "{}");
} catch {
  report = {};
}
const counts = report.metadata?.vulnerabilities;
if (!counts) {
  const why =
    report.error?.summary ?? run.stderr.split("\n").find((l) => /error|405|ENOTFOUND|ECONN/i.test(l));
  console.error(
    "npm audit DID NOT RUN: the registry's audit endpoint could not be reached" +
      (why ? ` (${why.trim()})` : "") +
      ".\nThe production dependencies were NOT checked for advisories in this run.",
  );
  process.exit(process.env.AUDIT_REQUIRED === "1" ? 1 : 0);
}
const serious = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) =>
  ["high", "critical"].includes(v.severity),
);
console.log(`npm audit (production dependencies): ${JSON.stringify(counts)}`);
if (serious.length > 0) {
  for (const [name, v] of serious) console.error(`  ${v.severity}: ${name}`);
  console.error("high or critical advisories in production dependencies: upgrade them (docs/security.md)");
  process.exit(1);
}
