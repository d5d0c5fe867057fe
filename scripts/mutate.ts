// `npm run mutate`: mutation testing of the product contracts. Makes systematic single-line mutants of
// contracts/payments/PaymentProcessor.sol and contracts/subscriptions/Subscriptions.sol (flipped comparison,
// swapped + and -, dropped revert, negated condition, deleted event, changed constant, swapped && and ||,
// flipped boolean literal, swapped add/sub and lt/gt in assembly), runs the contract tests against each mutant in
// a scratch copy of the project (never in the working tree), and writes the raw results as it goes to
// bench/results/mutation-results.md (MUTATE_REPORT; not committed). Only a complete run with
// --write-report then replaces the committed docs/mutation-results.md.
//
// Per mutant: one compile (`hardhat build --build-profile mutation`: the optimizer off, which halves the
// compile and changes no behaviour; a mutant that does not compile is "stillborn" and left out of the
// score), then `hardhat test solidity` with FUZZ_RUNS=64 INVARIANT_RUNS=32 (MUTATE_FUZZ_RUNS,
// MUTATE_INVARIANT_RUNS), then, only if that passed, `hardhat test mocha --bail test/contracts/*.test.ts`.
// A failing test kills the mutant, and so does a test stage stopped at its limit: MUTATE_TIMEOUT_S (600)
// or MUTATE_MEMORY_MB (4096 resident; a mutant that wraps a loop counter can otherwise exhaust the
// machine's memory). Before any mutant, the unmutated contracts must pass the same tests in
// the same profile, or the run stops. `--jobs n` mutants run at once, each in its own scratch copy
// (default 2, one per core of the machines this project targets).
//
// Usage: npm run mutate -- [--list] [--file <part of path>] [--op <operator>] [--line <n>]
//                          [--sample <n>] [--limit <n>] [--from <index>] [--jobs <n>] [--resume]
//                          [--write-report]
//   --list     print the mutants and exit
//   --sample n a deterministic sample of n mutants spread evenly over the list (every k-th)
//   --limit n  stop after n mutants
//   --from i   start at mutant number i (1-based), e.g. to resume
//   --jobs n   mutants run at once (default 2)
//   --resume   keep the results already in the results file and run only the mutants it lacks
//   --write-report  at the end of a complete run (every mutant, no selection), copy the results to the
//              committed docs/mutation-results.md; refused with any option that selects mutants
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TARGETS = ["contracts/payments/PaymentProcessor.sol", "contracts/subscriptions/Subscriptions.sol"];

export interface Mutant {
  index: number;
  file: string;
  line: number; // 1-based
  operator: string;
  original: string; // the original line(s)
  mutated: string; // what replaces them
  span: number; // how many lines are replaced
}

// ---------------------------------------------------------------------------------------------
// Generating mutants
// ---------------------------------------------------------------------------------------------

/** Code part of a line (no trailing `//` comment); empty for comment lines. */
function codeOf(line: string): string {
  const t = line.trim();
  if (t.startsWith("//") || t.startsWith("/*") || t.startsWith("*")) return "";
  const i = line.indexOf("//");
  return i >= 0 ? line.slice(0, i) : line;
}

const COMPARISONS: [RegExp, string, string][] = [
  [/(?<![<>=!])<(?![<=])/g, "<", ">="],
  [/(?<![<>=!])>(?![>=])/g, ">", "<="],
  [/<=/g, "<=", ">"],
  [/>=/g, ">=", "<"],
  [/==/g, "==", "!="],
  [/!=/g, "!=", "=="],
];

/** Every single-line mutant of one file, in source order. */
export function mutantsOf(file: string, source: string): Omit<Mutant, "index">[] {
  const lines = source.split("\n");
  const out: Omit<Mutant, "index">[] = [];
  let inAssembly = false;
  let depth = 0;
  let inContract = false;
  const push = (line: number, operator: string, mutated: string, span = 1) =>
    out.push({
      file,
      line: line + 1,
      operator,
      original: lines.slice(line, line + span).join("\n"),
      mutated,
      span,
    });

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const code = codeOf(line);
    if (/^contract /.test(line)) inContract = true;
    if (!inContract || code.trim() === "") continue;
    if (/\bassembly\b/.test(code)) {
      inAssembly = true;
      depth = 0;
    }
    if (inAssembly) {
      depth += (code.match(/{/g) ?? []).length - (code.match(/}/g) ?? []).length;
      // Assembly: the arithmetic and comparisons that carry the money rules.
      for (const [a, b] of [
        ["add(", "sub("],
        ["sub(", "add("],
        ["lt(", "gt("],
        ["gt(", "lt("],
        ["iszero(", "("],
      ] as const) {
        const at = code.search(new RegExp(`(?<![a-z])${a.replace("(", "\\(")}`));
        if (at >= 0) push(i, "assembly-op", line.slice(0, at) + b + line.slice(at + a.length));
      }
      if (depth <= 0 && code.includes("}")) inAssembly = false;
      continue;
    }
    if (/^\s*(import|pragma|using|event|error|bytes private constant|hex")/.test(line) || /\bhex"/.test(code))
      continue;
    if (/^\s*(function|modifier|constructor|receive|fallback|contract|struct|mapping)\b/.test(code)) continue;

    // Comparison operators, one occurrence at a time (mapping arrows `=>` excluded by the patterns).
    for (const [re, , to] of COMPARISONS) {
      for (const m of code.matchAll(re)) {
        if (m.index === undefined) continue;
        // `=>` in mapping types and `<<`/`>>` are not comparisons.
        if (code.slice(m.index - 1, m.index + 1) === "=>" || /mapping\(/.test(code)) continue;
        push(i, "comparison", line.slice(0, m.index) + to + line.slice(m.index + m[0].length));
      }
    }
    // Arithmetic + and - (not ++, --, +=, -=, unary minus is not used).
    for (const m of code.matchAll(/(?<=[\w)\]] )([+-])(?= [\w(])/g)) {
      if (m.index === undefined) continue;
      push(i, "arithmetic", line.slice(0, m.index) + (m[1] === "+" ? "-" : "+") + line.slice(m.index + 1));
    }
    for (const m of code.matchAll(/\+\+|--/g)) {
      if (m.index === undefined) continue;
      push(i, "arithmetic", line.slice(0, m.index) + (m[0] === "++" ? "--" : "++") + line.slice(m.index + 2));
    }
    // && and ||.
    for (const m of code.matchAll(/&&|\|\|/g)) {
      if (m.index === undefined) continue;
      push(i, "logical", line.slice(0, m.index) + (m[0] === "&&" ? "||" : "&&") + line.slice(m.index + 2));
    }
    // Bitwise state operators of the token bits.
    for (const m of code.matchAll(/\|=|&=/g)) {
      if (m.index === undefined) continue;
      push(i, "bitwise", line.slice(0, m.index) + (m[0] === "|=" ? "&=" : "|=") + line.slice(m.index + 2));
    }
    // Boolean literals.
    for (const m of code.matchAll(/\b(true|false)\b/g)) {
      if (m.index === undefined) continue;
      push(
        i,
        "boolean",
        line.slice(0, m.index) + (m[1] === "true" ? "false" : "true") + line.slice(m.index + m[0].length),
      );
    }
    // Constants: a decimal literal n becomes n + 1 (0 becomes 1).
    for (const m of code.matchAll(/(?<![\w.])(\d+)(?![\w.x])/g)) {
      if (m.index === undefined) continue;
      const digits = m[1] ?? "0";
      const n = BigInt(digits);
      push(i, "constant", line.slice(0, m.index) + String(n + 1n) + line.slice(m.index + digits.length));
    }
    // Negated conditions of `if` and `else if` on one line.
    const cond = /\bif \((.*)\)(?=\s*(\{|revert|return|$|[\w_]))/.exec(code);
    if (cond?.[1] !== undefined && balanced(cond[1])) {
      const at = code.indexOf(cond[0]);
      push(i, "negate-condition", line.slice(0, at) + `if (!(${cond[1]}))` + line.slice(at + cond[0].length));
    }
    // Dropped revert: `if (c) revert E(...);` loses its revert; a revert on its own line becomes `{}`.
    const rev = /revert [\w.]+\(.*\);/.exec(code);
    if (rev) push(i, "drop-revert", line.replace(rev[0], "{}"));
    else if (/^\s*revert [\w.]+\($/.test(code)) {
      let j = i;
      while (j < lines.length && !(lines[j] ?? "").includes(");")) j++;
      push(i, "drop-revert", line.replace(/revert .*$/, "{}"), j - i + 1);
    }
    // Deleted event.
    if (/^\s*emit /.test(code)) {
      let j = i;
      while (j < lines.length && !codeOf(lines[j] ?? "").includes(");")) j++;
      push(i, "delete-event", "", j - i + 1);
    }
  }
  return out;
}

function balanced(s: string): boolean {
  let d = 0;
  for (const c of s) {
    if (c === "(") d++;
    if (c === ")" && --d < 0) return false;
  }
  return d === 0;
}

export function allMutants(): Mutant[] {
  const list: Mutant[] = [];
  for (const file of TARGETS) {
    for (const m of mutantsOf(file, readFileSync(join(ROOT, file), "utf8")))
      list.push({ ...m, index: list.length + 1 });
  }
  return list;
}

export function applyMutant(source: string, m: Mutant): string {
  const lines = source.split("\n");
  lines.splice(m.line - 1, m.span, ...(m.mutated === "" ? [] : [m.mutated]));
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

type Outcome = "killed" | "survived" | "stillborn" | "timeout";
interface Result {
  mutant: Mutant;
  outcome: Outcome;
  by: string; // which stage killed it
  seconds: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A mutant's test stage may not run longer than this, MUTATE_TIMEOUT_S (the unmutated tests take ~30 s). */
const TEST_TIMEOUT_MS = Number(process.env.MUTATE_TIMEOUT_S ?? "600") * 1000;

/** A mutant's test run may not use more memory than this (resident, whole process group), MUTATE_MEMORY_MB. */
const MEMORY_LIMIT_KB = Number(process.env.MUTATE_MEMORY_MB ?? "4096") * 1024;

/** Resident memory of a process group in KiB (Linux `ps`), 0 if it cannot be read. */
function groupRssKb(pgid: number): number {
  const ps = spawnSync("ps", ["-o", "rss=", "-g", String(pgid)], { encoding: "utf8" });
  return (ps.stdout ?? "").split("\n").reduce((sum, line) => sum + (Number(line.trim()) || 0), 0);
}

/**
 * Runs `cmd` in its own process group. A mutant can turn a bounded loop into a near-endless one (a counter
 * that wraps, say): its tests then run for hours or grow without limit and starve the machine. Past the
 * time limit or the memory limit the whole group is killed and `stopped` says which (the mutant counts as
 * killed: the tests did not pass it).
 */
function run(
  cwd: string,
  cmd: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ ok: boolean; stopped: string | undefined; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0] ?? "", cmd.slice(1), {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    let stopped: string | undefined;
    const stop = (why: string) => {
      if (stopped) return;
      stopped = why;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const timer = setTimeout(() => stop(`over ${timeoutMs / 1000} s`), timeoutMs);
    const watch = setInterval(() => {
      const rss = child.pid ? groupRssKb(child.pid) : 0;
      if (rss > MEMORY_LIMIT_KB) stop(`over ${Math.round(MEMORY_LIMIT_KB / 1024)} MB resident`);
    }, 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearInterval(watch);
      resolve({ ok: code === 0 && !stopped, stopped, out });
    });
  });
}

function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "mutate-"));
  const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
    .stdout.split("\n")
    .filter((f) => f && existsSync(join(ROOT, f)));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f));
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

async function main(): Promise<void> {
  let mutants = allMutants();
  const generated = mutants.length;
  const file = arg("file");
  const op = arg("op");
  const line = arg("line");
  if (file) mutants = mutants.filter((m) => m.file.includes(file));
  if (op) mutants = mutants.filter((m) => m.operator === op);
  if (line) mutants = mutants.filter((m) => m.line === Number(line));
  const sample = arg("sample");
  if (sample) {
    const step = mutants.length / Number(sample);
    const pool = mutants;
    mutants = pool.filter((_, k) => Math.floor(k / step) !== Math.floor((k - 1) / step) || k === 0);
  }
  const from = Number(arg("from") ?? "1");
  mutants = mutants.filter((m) => m.index >= from);
  const limit = arg("limit");
  if (limit) mutants = mutants.slice(0, Number(limit));

  if (process.argv.includes("--list")) {
    for (const m of mutants)
      console.log(`#${m.index} ${m.file}:${m.line} ${m.operator}: ${m.mutated.trim() || "(deleted)"}`);
    const byOp = new Map<string, number>();
    for (const m of allMutants()) byOp.set(m.operator, (byOp.get(m.operator) ?? 0) + 1);
    console.log(
      `${generated} mutants generated (${[...byOp].map(([k, v]) => `${k} ${v}`).join(", ")}); ${mutants.length} selected`,
    );
    return;
  }

  const report = reportTargets({
    generated,
    selected: mutants.length,
    writeReport: process.argv.includes("--write-report"),
    resultsEnv: process.env.MUTATE_REPORT,
  });
  if ("error" in report) {
    console.error(`mutate: ${report.error}`);
    process.exitCode = 2;
    return;
  }
  mkdirSync(dirname(report.results), { recursive: true });

  const jobs = Math.max(1, Number(arg("jobs") ?? "2"));
  const bin = join(ROOT, "node_modules", ".bin");
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    FUZZ_RUNS: process.env.MUTATE_FUZZ_RUNS ?? "64",
    INVARIANT_RUNS: process.env.MUTATE_INVARIANT_RUNS ?? "32",
  };
  const mochaFiles = [
    "PaymentProcessor.test.ts",
    "PaymentProcessorDeposits.test.ts",
    "Subscriptions.test.ts",
  ].map((f) => `test/contracts/${f}`);
  const profile = ["--build-profile", "mutation"];
  /** The contract tests against what the scratch copy holds now: "killed by" or undefined if all pass. */
  const testIn = async (dir: string): Promise<{ outcome: Outcome; by: string }> => {
    const build = await run(dir, ["hardhat", "build", ...profile], env, 600_000);
    if (!build.ok) return { outcome: "stillborn", by: "does not compile" };
    const sol = await run(
      dir,
      ["hardhat", "test", "solidity", ...profile, "--no-compile"],
      env,
      TEST_TIMEOUT_MS,
    );
    if (sol.stopped) return { outcome: "timeout", by: `solidity tests stopped: ${sol.stopped}` };
    if (!sol.ok) return { outcome: "killed", by: firstFailure(sol.out, "solidity") };
    const mocha = await run(
      dir,
      ["hardhat", "test", "mocha", ...profile, "--no-compile", "--bail", ...mochaFiles],
      env,
      TEST_TIMEOUT_MS,
    );
    if (mocha.stopped) return { outcome: "timeout", by: `mocha tests stopped: ${mocha.stopped}` };
    if (!mocha.ok) return { outcome: "killed", by: firstFailure(mocha.out, "mocha") };
    return { outcome: "survived", by: "" };
  };

  const dirs = Array.from({ length: Math.min(jobs, mutants.length) || 1 }, () => scratchCopy());
  console.log(
    `mutate: ${generated} mutants generated, ${mutants.length} selected, ${dirs.length} at a time; scratch copies ${dirs.join(", ")}`,
  );
  // Baseline: the unmutated contracts must pass the same tests, or no mutant result means anything.
  const t0 = Date.now();
  const baseline = await Promise.all(dirs.map((d) => testIn(d)));
  const failed = baseline.find((b) => b.outcome !== "survived");
  if (failed) throw new Error(`mutate: the unmutated project fails its own tests: ${failed.by}`);
  console.log(`mutate: baseline passes (${((Date.now() - t0) / 1000).toFixed(0)} s)`);

  const results: Result[] = process.argv.includes("--resume") ? earlierResults(report.results) : [];
  const done = new Set(results.map((r) => r.mutant.index));
  const queue = mutants.filter((m) => !done.has(m.index));
  if (done.size)
    console.log(`mutate: ${done.size} results kept from ${report.results}, ${queue.length} to run`);
  const started = Date.now();
  const worker = async (dir: string) => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      const t = Date.now();
      const path = join(dir, m.file);
      const original = readFileSync(path, "utf8");
      writeFileSync(path, applyMutant(original, m));
      let result: { outcome: Outcome; by: string };
      try {
        result = await testIn(dir);
      } finally {
        writeFileSync(path, original);
      }
      const seconds = (Date.now() - t) / 1000;
      results.push({ mutant: m, ...result, seconds });
      results.sort((a, b) => a.mutant.index - b.mutant.index);
      const ran = results.length - done.size;
      const eta = ((Date.now() - started) / ran) * queue.length;
      console.log(
        `[${results.length}/${mutants.length}, ~${Math.ceil(eta / 60_000)} min left] #${m.index} ${m.file}:${m.line} ${m.operator} -> ${result.outcome.toUpperCase()} (${seconds.toFixed(0)} s)${result.by ? `: ${result.by}` : ""}`,
      );
      writeReport(report.results, results, generated, mutants.length);
    }
  };
  await Promise.all(dirs.map((d) => worker(d)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  const killed = results.filter((r) => r.outcome === "killed" || r.outcome === "timeout").length;
  const valid = results.filter((r) => r.outcome !== "stillborn").length;
  console.log(
    `mutate: score ${killed}/${valid} (${valid ? ((100 * killed) / valid).toFixed(1) : "-"}%) in ${((Date.now() - started) / 60_000).toFixed(1)} min`,
  );
  for (const r of results.filter((x) => x.outcome === "survived"))
    console.log(
      `  survived #${r.mutant.index} ${r.mutant.file}:${r.mutant.line} ${r.mutant.operator}: ${r.mutant.mutated.trim() || "(line deleted)"}`,
    );
  console.log(`mutate: results in ${report.results}`);
  if (report.publish) {
    if (results.length !== generated) {
      console.error(
        `mutate: ${results.length} of ${generated} mutants have a result: ${report.publish} left as it was`,
      );
      process.exitCode = 1;
      return;
    }
    copyFileSync(report.results, report.publish);
    console.log(`mutate: complete run: ${report.publish} replaced (--write-report)`);
  }
}

/** The committed report, which only a complete run with --write-report replaces. */
export const COMMITTED_RESULTS = join(ROOT, "docs", "mutation-results.md");
/** Where every run writes its results as it goes (MUTATE_REPORT overrides); not committed. */
export const WORKING_RESULTS = join(ROOT, "bench", "results", "mutation-results.md");

/**
 * Where a run's results go: always to a working file, written after each mutant (so a run can be
 * resumed); at the end, and only for a run of every mutant that asked with --write-report, also to
 * the committed report. A sample or a partial run never touches it.
 */
export function reportTargets(run: {
  generated: number;
  selected: number;
  writeReport: boolean;
  resultsEnv: string | undefined;
}): { results: string; publish?: string } | { error: string } {
  const results = run.resultsEnv ? resolve(run.resultsEnv) : WORKING_RESULTS;
  if (results === COMMITTED_RESULTS)
    return {
      error: `MUTATE_REPORT may not be the committed ${COMMITTED_RESULTS}: a complete run replaces it with --write-report`,
    };
  if (!run.writeReport) return { results };
  if (run.selected !== run.generated)
    return {
      error:
        `--write-report replaces the committed docs/mutation-results.md, which only a run of all ${run.generated} ` +
        `mutants may do, and this selection has ${run.selected}: drop --write-report, or --sample, --limit, --from, --file, --op and --line`,
    };
  return { results, publish: COMMITTED_RESULTS };
}

function firstFailure(out: string, stage: string): string {
  // The first numbered failure ("  1) Suite\n       test name:") or a failed Solidity test line.
  const m = /^\s*1\) (.+)$/m.exec(out) ?? /^\s*✘ (.+)$/m.exec(out) ?? /^\s*(?:x|✗) (.+)$/m.exec(out);
  return `${stage}: ${m?.[1] ? m[1].trim().slice(0, 140) : "a test failed"}`;
}

/** The results of an earlier run, from its results file (for --resume). */
function earlierResults(path: string): Result[] {
  if (!existsSync(path)) return [];
  const byIndex = new Map(allMutants().map((m) => [m.index, m]));
  const out: Result[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const index = Number(cells[1]);
    const outcome = cells[5] as Outcome;
    const mutant = byIndex.get(index);
    if (!mutant || !["killed", "survived", "stillborn", "timeout"].includes(outcome)) continue;
    out.push({ mutant, outcome, by: (cells[6] ?? "").replace(/\\\|/g, "|"), seconds: 0 });
  }
  return out;
}

function writeReport(path: string, results: Result[], generated: number, selected: number): void {
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const valid = results.length - count("stillborn");
  const killed = count("killed") + count("timeout");
  const rows = results.map(
    (r) =>
      `| ${r.mutant.index} | \`${r.mutant.file.split("/").pop()}:${r.mutant.line}\` | ${r.mutant.operator} | \`${(
        r.mutant.mutated.trim() || "(line deleted)"
      )
        .replace(/\|/g, "\\|")
        .slice(0, 90)}\` | ${r.outcome} | ${r.by.replace(/\|/g, "\\|")} |`,
  );
  const text = [
    "# Mutation run (raw results of `npm run mutate`)",
    "",
    `Generated ${generated} mutants; selected ${selected}; run ${results.length}: ${count("killed")} killed, ${count("timeout")} stopped at the time or memory limit (counted killed), ${count("survived")} survived, ${count("stillborn")} did not compile (left out).`,
    `Score: ${killed}/${valid}${valid ? ` = ${((100 * killed) / valid).toFixed(1)}%` : ""}.`,
    "",
    "| # | where | operator | mutated line | outcome | killed by |",
    "| - | ----- | -------- | ------------ | ------- | --------- |",
    ...rows,
    "",
  ].join("\n");
  writeFileSync(path, text);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
