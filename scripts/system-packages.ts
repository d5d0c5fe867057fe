/**
 * Installs the system (Debian) packages a command needs when they are missing, so that
 * `npm test` does its own set-up on a fresh machine. npm runs it as a pre-script:
 *
 *   node scripts/system-packages.ts test   before npm test, test:mocha and test:db
 *   node scripts/system-packages.ts smt    before npm run verify:smt
 *
 * With everything present it is a quick no-op. As root it runs `apt-get update`, then
 * `apt-get install -y <packages>` (DEBIAN_FRONTEND=noninteractive), and checks again. Otherwise
 * it prints the one command that installs them and exits 1: it never asks for a password.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/** A program a test runs, and the Debian package that installs it. */
export interface Need {
  /** What is run: a command looked up on PATH, or an absolute path. */
  program: string;
  /** The variable that names another program instead (the tests read it too). */
  override?: string;
  /** The Debian package that provides `program`. */
  package: string;
  /** Which tests run it. */
  usedBy: string;
}

/** What each npm script needs; each entry was checked against the tests that run the program. */
export const NEEDS = {
  test: [
    {
      program: "litecoind",
      override: "LITECOIND",
      package: "litecoind",
      usedBy: "the UTXO adapter and EletroPay tests (test/helpers/litecoind.ts: a real litecoind -regtest)",
    },
    {
      program: "/usr/bin/chromium",
      override: "CHROMIUM_PATH",
      package: "chromium",
      usedBy: "the payment page, console and point of sale tests (test/browser, through playwright-core)",
    },
    {
      program: "zbarimg",
      package: "zbar-tools",
      usedBy:
        "the payment page test, which reads the QR code as a phone camera does (test/browser/pay-page.test.ts)",
    },
    {
      program: "promtool",
      package: "prometheus",
      usedBy:
        "the /metrics test, which has Prometheus's own text parser read every scrape (test/server/metrics.test.ts)",
    },
  ],
  smt: [
    {
      program: "z3",
      package: "z3",
      usedBy: "npm run verify:smt (solc's SMTChecker solves through Z3; the wasm solc cannot solve alone)",
    },
  ],
} satisfies Record<string, Need[]>;

export type Purpose = keyof typeof NEEDS;

export type Env = Record<string, string | undefined>;

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `program` is found: itself when it is a path, else the first PATH entry holding it. */
export function locate(program: string, env: Env): string | undefined {
  if (program.includes("/")) return executable(program) ? program : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && isAbsolute(dir) && executable(join(dir, program))) return join(dir, program);
  }
  return undefined;
}

export type Plan =
  | { kind: "ready" }
  /** A variable names a program that is not there: a package would not help. */
  | { kind: "misnamed"; problems: string[] }
  /** As root, with apt-get: run these commands (environment: DEBIAN_FRONTEND=noninteractive). */
  | { kind: "install"; missing: Need[]; commands: string[][] }
  /** Anyone else: print the command and stop. */
  | { kind: "ask"; missing: Need[]; command: string };

/** What to do, given the environment (PATH and the override variables) and the user id. */
export function plan(needs: readonly Need[], env: Env, uid: number): Plan {
  const problems: string[] = [];
  const missing: Need[] = [];
  for (const need of needs) {
    const named = need.override === undefined ? undefined : env[need.override]?.trim() || undefined;
    if (locate(named ?? need.program, env) !== undefined) continue;
    if (named !== undefined)
      problems.push(
        `${need.override}=${named} is not an executable program; fix it or unset it (default: ${need.program}, from the ${need.package} package)`,
      );
    else missing.push(need);
  }
  if (problems.length > 0) return { kind: "misnamed", problems };
  if (missing.length === 0) return { kind: "ready" };
  const packages = [...new Set(missing.map((need) => need.package))];
  if (uid === 0 && locate("apt-get", env) !== undefined) {
    return {
      kind: "install",
      missing,
      commands: [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", ...packages],
      ],
    };
  }
  const install = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages.join(" ")}`;
  return { kind: "ask", missing, command: uid === 0 ? install : `sudo sh -c '${install}'` };
}

const listMissing = (missing: Need[]) =>
  missing.map((need) => `  - ${need.program} (package ${need.package}): ${need.usedBy}`).join("\n");

/** Runs the plan for `purpose`; returns the exit code. */
export function ensure(
  purpose: Purpose,
  env: Env,
  uid: number,
  log = console.log,
  fail = console.error,
): number {
  const first = plan(NEEDS[purpose], env, uid);
  switch (first.kind) {
    case "ready":
      return 0;
    case "misnamed":
      fail(`system packages: ${first.problems.join("\n")}`);
      return 1;
    case "ask":
      fail(
        `system packages: these programs are missing:\n${listMissing(first.missing)}\n` +
          (locate("apt-get", env) === undefined
            ? `This machine has no apt-get: install the Debian packages named above with its package manager, or run on Debian/Ubuntu:\n  ${first.command}\n`
            : `Install them with this command, then run it again:\n  ${first.command}\n`),
      );
      return 1;
    case "install": {
      log(`system packages: installing what is missing:\n${listMissing(first.missing)}`);
      for (const command of first.commands) {
        log(`system packages: ${command.join(" ")}`);
        const [program, ...args] = command as [string, ...string[]];
        const result = spawnSync(program, args, {
          stdio: "inherit",
          env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
        });
        if (result.status !== 0) {
          fail(
            `system packages: \`${command.join(" ")}\` failed (${result.error?.message ?? `exit ${result.status}`})`,
          );
          return 1;
        }
      }
      const after = plan(NEEDS[purpose], env, uid);
      if (after.kind !== "ready") {
        const still = after.kind === "misnamed" ? after.problems.join("; ") : listMissing(after.missing);
        fail(`system packages: still missing after apt-get install:\n${still}`);
        return 1;
      }
      log("system packages: installed");
      return 0;
    }
  }
}

if (import.meta.main) {
  const purpose = process.argv[2];
  if (purpose === undefined || !(purpose in NEEDS)) {
    console.error(`usage: node scripts/system-packages.ts <${Object.keys(NEEDS).join("|")}>`);
    process.exit(2);
  }
  process.exit(ensure(purpose as Purpose, process.env, process.getuid?.() ?? -1));
}
