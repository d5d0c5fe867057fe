import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "mocha";
import { locate, NEEDS, plan, type Need } from "../../scripts/system-packages.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/system-packages.ts", import.meta.url));
const NOBODY = 65534;

/**
 * `npm test` sets itself up: its pre-script installs the system packages the tests run (litecoind,
 * Chromium, zbarimg, promtool; z3 before verify:smt) when they are missing, with apt-get as root, and
 * otherwise prints the one command to run and stops. Nothing is removed from this machine: the
 * plan is computed for a PATH that lacks the programs, and the script runs with such a PATH, as a
 * user who is not root, or as root against a stand-in apt-get that records what it was asked.
 */
describe("npm test's set-up: system packages installed when missing", function () {
  this.timeout(30_000);
  let tmp: string;
  let n = 0;
  /** A fresh directory for one case. */
  const dir = () => {
    const d = join(tmp, String(n++));
    mkdirSync(d, { mode: 0o755 });
    return d;
  };
  const program = (d: string, name: string, body = "exit 0") => {
    writeFileSync(join(d, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(d, name), 0o755);
  };
  /** The tests' needs, with the absolute default (/usr/bin/chromium) moved into `d`. */
  const relocated = (needs: readonly Need[], d: string): Need[] =>
    needs.map((need) =>
      need.program.startsWith("/") ? { ...need, program: join(d, basename(need.program)) } : need,
    );

  before(function () {
    tmp = mkdtempSync(join(tmpdir(), "ethpos-pretest-"));
    chmodSync(tmp, 0o755);
  });
  after(function () {
    rmSync(tmp, { recursive: true, force: true });
  });

  it("needs what the tests run: litecoind, chromium, zbar-tools and prometheus (promtool) for npm test, z3 for verify:smt", function () {
    assert.deepEqual(
      NEEDS.test.map((need) => need.package),
      ["litecoind", "chromium", "zbar-tools", "prometheus"],
    );
    assert.deepEqual(
      NEEDS.smt.map((need) => need.package),
      ["z3"],
    );
    const scripts = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).scripts;
    for (const name of ["pretest", "pretest:mocha", "pretest:db"])
      assert.equal(scripts[name], "node scripts/system-packages.ts test", name);
    assert.equal(scripts["preverify:smt"], "node scripts/system-packages.ts smt");
  });

  it("as root, with none of them on PATH: apt-get update, then one apt-get install -y of every package", function () {
    const empty = dir();
    const bin = dir();
    program(bin, "apt-get");
    const result = plan(relocated(NEEDS.test, empty), { PATH: `${empty}:${bin}` }, 0);
    assert.equal(result.kind, "install");
    assert.deepEqual(result.kind === "install" && result.commands, [
      ["apt-get", "update"],
      ["apt-get", "install", "-y", "litecoind", "chromium", "zbar-tools", "prometheus"],
    ]);
    const smt = plan(NEEDS.smt, { PATH: `${empty}:${bin}` }, 0);
    assert.deepEqual(smt.kind === "install" && smt.commands[1], ["apt-get", "install", "-y", "z3"]);
  });

  it("not root: the one command to run, with sudo; no apt-get at all: the same command, said to need Debian", function () {
    const empty = dir();
    const result = plan(relocated(NEEDS.test, empty), { PATH: empty }, 1000);
    assert.equal(
      result.kind === "ask" && result.command,
      "sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y litecoind chromium zbar-tools prometheus'",
    );
    const rootWithoutApt = plan(relocated(NEEDS.test, empty), { PATH: empty }, 0);
    assert.equal(rootWithoutApt.kind, "ask", "root but no apt-get: nothing to run, so say what to install");
  });

  it("present means an executable file on PATH (or at the path); a plain file or a directory is missing", function () {
    const d = dir();
    program(d, "litecoind");
    program(d, "chromium");
    program(d, "promtool");
    writeFileSync(join(d, "zbarimg"), "not executable");
    const result = plan(relocated(NEEDS.test, d), { PATH: d }, 1000);
    assert.deepEqual(result.kind === "ask" && result.missing.map((need) => need.package), ["zbar-tools"]);
    program(d, "zbarimg");
    assert.deepEqual(plan(relocated(NEEDS.test, d), { PATH: d }, 1000), { kind: "ready" });
    mkdirSync(join(d, "z3"));
    assert.equal(plan(NEEDS.smt, { PATH: d }, 1000).kind, "ask");
  });

  it("LITECOIND or CHROMIUM_PATH naming no program is a mistake to fix, not a package to install", function () {
    const d = dir();
    program(d, "zbarimg");
    program(d, "chromium");
    program(d, "promtool");
    const result = plan(relocated(NEEDS.test, d), { PATH: d, LITECOIND: join(d, "nope") }, 0);
    assert.equal(result.kind, "misnamed");
    assert.match(
      result.kind === "misnamed" ? (result.problems[0] ?? "") : "",
      /^LITECOIND=.*nope is not an executable program/,
    );
    program(d, "my-litecoind");
    assert.deepEqual(plan(relocated(NEEDS.test, d), { PATH: d, LITECOIND: "my-litecoind" }, 0), {
      kind: "ready",
    });
  });

  /** The script as npm runs it, with `env` only, as `uid` (through setpriv when that is not us). */
  function runScript(purpose: string, env: Record<string, string>, uid: number) {
    const node = process.execPath;
    const command =
      uid === process.getuid?.()
        ? [node, SCRIPT, purpose]
        : [
            locate("setpriv", process.env) ?? "setpriv",
            `--reuid=${uid}`,
            `--regid=${uid}`,
            "--clear-groups",
            node,
            SCRIPT,
            purpose,
          ];
    const [file, ...args] = command as [string, ...string[]];
    return spawnSync(file, args, { env, encoding: "utf8", cwd: tmp });
  }

  it("run by a user who is not root with them missing: prints the one command and exits non-zero", function () {
    const empty = dir();
    // Chromium is at an absolute path, not on PATH: a stand-in keeps this case about PATH alone.
    const browser = dir();
    program(browser, "chromium");
    const uid = process.getuid?.() === 0 ? NOBODY : (process.getuid?.() ?? NOBODY);
    const result = runScript("test", { PATH: empty, CHROMIUM_PATH: join(browser, "chromium") }, uid);
    assert.equal(result.status, 1, result.stderr);
    assert.ok(
      result.stderr.includes(
        "  sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y litecoind zbar-tools prometheus'\n",
      ),
      result.stderr,
    );
    assert.match(result.stderr, /litecoind \(package litecoind\)/);
    assert.equal(result.stdout, "");
  });

  it("run as root with them missing: apt-get update, then install -y, non-interactive; fails if they are still missing", function () {
    if (process.getuid?.() !== 0) this.skip(); // the install path is root's; the plan is tested above
    const bin = dir();
    const log = join(bin, "apt.log");
    // A stand-in apt-get on PATH: records each call, and its install lays down the programs.
    program(
      bin,
      "apt-get",
      `echo "$* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> ${log}\n` +
        `if [ "$1" = install ]; then for p in litecoind zbarimg promtool; do printf '#!/bin/sh\\n' > ${bin}/$p; /bin/chmod 755 ${bin}/$p; done; fi`,
    );
    program(bin, "chromium");
    const installed = runScript("test", { PATH: bin, CHROMIUM_PATH: join(bin, "chromium") }, 0);
    assert.equal(installed.status, 0, installed.stderr);
    assert.deepEqual(readFileSync(log, "utf8").trim().split("\n"), [
      "update DEBIAN_FRONTEND=noninteractive",
      "install -y litecoind zbar-tools prometheus DEBIAN_FRONTEND=noninteractive",
    ]);
    assert.match(installed.stdout, /system packages: installed/);

    const broken = dir();
    program(broken, "apt-get"); // succeeds and installs nothing
    const still = runScript("smt", { PATH: broken }, 0);
    assert.equal(still.status, 1);
    assert.match(still.stderr, /still missing after apt-get install:\n {2}- z3 \(package z3\)/);
  });

  it("with everything present it does nothing and says nothing", function () {
    const result = runScript("test", { PATH: process.env.PATH ?? "" }, process.getuid?.() ?? 0);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout + result.stderr, "");
  });
});
