// `npm run verify:smt`: model-checks the accounting harnesses of test/verification/ with solc's SMTChecker
// (CHC engine) and Z3, and prints every stated property as proved, reverts by design, counterexample,
// unproved or timed out. Exits 1 if a property has a counterexample, if a harness's verbatim copy of production
// code drifted from the contract, or if the solver is missing; unproved properties are listed (they are covered
// by fuzzing, see docs/contracts.md) and make it fail only with SMT_STRICT=1.
//
// Options: --only <name>       run only the harness contracts (or files) whose name contains <name>
//          env SMT_TIMEOUT_MS  per-query solver timeout given to the SMTChecker (default 15000; Z3 itself is
//                              stopped after four times that, wall clock)
//          env SMT_RLIMIT      Z3's resource limit per query (default 20000000, solc-js's; deterministic,
//                              unlike the timeout)
//          env SMT_ONLY        same as --only
//
// A harness contract can set its own analysis in its NatSpec, `/// @custom:smt key=value …`:
//   engine=chc|bmc  CHC (the default) proves a property in every state the contract's functions can reach; BMC
//                   proves it for one call from an arbitrary state (every state, reachable or not), which is
//                   a complete proof for loop-free code and, with loops=n, for loops of at most n iterations
//   loops=n         BMC's loop unrolling (the harness must bound the loop by a `require`)
//   rlimit=n        Z3's resource limit for this contract's queries
//   timeout=ms      the per-query timeout for this contract's queries
//
// `npm run verify:smt` runs node with a 6 MB stack (`--stack-size=6000`, under Linux's default 8 MB thread
// stack): the wasm solc recurses over the unrolled loop's expressions, past node's default 1 MB, for loops=32.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-require-imports */
const solc = require("solc") as { compile(input: string, callbacks: object): string; version(): string };
const smtchecker = require("solc/smtchecker") as {
  smtCallback(solve: unknown, solver: unknown): (query: string) => { contents?: string; error?: unknown };
};
const smtsolver = require("solc/smtsolver") as {
  smtSolver(query: string, solver: unknown): string;
  availableSolvers: { name: string }[];
};

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HARNESS_DIR = join(ROOT, "test", "verification");
const TIMEOUT_MS = Number.parseInt(process.env.SMT_TIMEOUT_MS ?? "15000", 10);
const onlyArg = process.argv.indexOf("--only");
const ONLY = (onlyArg >= 0 ? process.argv[onlyArg + 1] : undefined) ?? process.env.SMT_ONLY ?? "";
const RLIMIT = Number.parseInt(process.env.SMT_RLIMIT ?? "20000000", 10);
const STRICT = process.env.SMT_STRICT === "1";

type Verdict = "proved" | "reverts by design" | "counterexample" | "unproved" | "timed out";
interface Property {
  id: string;
  text: string;
  file: string;
  line: number; // the assert's line, or 0 for the harness-wide arithmetic property
  verdict: Verdict;
  detail: string;
}

interface SolcError {
  severity: string;
  message: string;
  formattedMessage?: string;
  errorCode?: string;
  sourceLocation?: { file: string; start: number; end: number };
}

const z3 = smtsolver.availableSolvers.find((s) => s.name === "z3");
if (!z3) {
  console.error(
    "verify:smt: z3 is not installed (apt-get install -y z3); the wasm solc cannot solve on its own.",
  );
  process.exit(1);
}

// Every query goes through Z3, with solc-js's Z3 options (smtsolver.js) but this script's per-query wall-clock
// limit: solc-js's fixed 10 s is too short on a loaded machine, and an answer must not depend on the load.
let queries = 0;
let timeouts = 0;
let solverMs = 0;
let rlimit = RLIMIT; // the contract being analysed may raise it (`@custom:smt rlimit=`)
let queryTimeoutMs = TIMEOUT_MS;
const Z3_ARGS = [
  "-smt2",
  "rewriter.pull_cheap_ite=true",
  "fp.spacer.q3.use_qgen=true",
  "fp.spacer.mbqi=false",
  "fp.spacer.ground_pobs=false",
];
const solve = (query: string): string => {
  const t0 = performance.now();
  queries += 1;
  try {
    const r = spawnSync("z3", [...Z3_ARGS, `rlimit=${rlimit}`, "-in"], {
      input: query,
      encoding: "utf8",
      timeout: queryTimeoutMs * 4,
      maxBuffer: 1 << 30,
    });
    const out = r.stdout ?? "";
    if (/^(sat|unsat|unknown|\(error|error)/.test(out)) return out;
    timeouts += 1;
    throw new Error(`z3 gave no answer (${r.error?.message ?? `exit ${r.status}`})`);
  } finally {
    solverMs += performance.now() - t0;
  }
};

/** Checks that each `<verbatim X.sol>` block of a harness still appears, line for line, in the contract X.sol. */
function checkVerbatim(file: string, source: string): string[] {
  const problems: string[] = [];
  const norm = (l: string) =>
    l
      .trim()
      .replace(/^\/\/\s*/, "")
      .trim();
  const lines = source.split("\n");
  const at = (k: number) => lines[k] ?? "";
  for (let i = 0; i < lines.length; i++) {
    const open = /<verbatim ([\w.]+)>/.exec(at(i));
    if (!open?.[1]) continue;
    const block: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !at(j).includes("</verbatim>"); j++) {
      if (/^\s*\/\/ smt:/.test(at(j))) continue;
      if (norm(at(j)) !== "") block.push(norm(at(j)));
    }
    const contract = findContract(open[1]);
    // Compared without whitespace, so that formatting (prettier) and the `//` of a commented equivalent do not
    // matter; every token must be there, in order.
    const flat = (ls: string[]) => ls.join("").replace(/\s+/g, "");
    const production = flat(readFileSync(contract, "utf8").split("\n").map(norm));
    if (!production.includes(flat(block)))
      problems.push(`${file}:${i + 1}: the verbatim block no longer matches ${relative(ROOT, contract)}`);
    i = j;
  }
  return problems;
}

function findContract(name: string): string {
  const walk = (dir: string): string | undefined => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "mocks") {
        const hit = walk(p);
        if (hit) return hit;
      } else if (entry.name === name) return p;
    }
    return undefined;
  };
  const hit = walk(join(ROOT, "contracts"));
  if (!hit) throw new Error(`verify:smt: no contract ${name} under contracts/`);
  return hit;
}

/** The line of a byte offset (solc's source locations count UTF-8 bytes, not UTF-16 units). */
function lineOf(source: string, offset: number): number {
  return Buffer.from(source, "utf8").subarray(0, offset).toString("utf8").split("\n").length;
}

function verifyHarness(file: string): { properties: Property[]; drift: string[]; seconds: number } {
  const path = join(HARNESS_DIR, file);
  const source = readFileSync(path, "utf8");
  const key = `test/verification/${file}`;
  const lines = source.split("\n");
  // Every concrete contract of the file, with its first and last line and its `@custom:smt` settings.
  // (Abstract contracts and libraries are not analysed on their own; they only end the previous range.)
  const starts = [...source.matchAll(/^(abstract contract|contract|library) (\w+)/gm)].map((m) => ({
    name: m[1] === "contract" ? (m[2] ?? "") : "",
    line: lineOf(source, Buffer.byteLength(source.slice(0, m.index))),
  }));
  const fileMatches = file.includes(ONLY);
  const contracts = starts
    .map((c, k) => {
      const settings: Record<string, string> = {};
      for (let i = c.line - 2; i >= 0 && /^\s*\/\/\//.test(lines[i] ?? ""); i--) {
        const custom = /@custom:smt (.*)$/.exec(lines[i] ?? "");
        for (const kv of custom?.[1]?.split(/\s+/) ?? []) {
          const [key, value] = kv.split("=");
          if (key && value) settings[key] = value;
        }
      }
      return { ...c, last: (starts[k + 1]?.line ?? lines.length + 1) - 1, settings };
    })
    .filter((c) => c.name !== "" && (fileMatches || c.name.includes(ONLY)));
  const inScope = (line: number) => contracts.some((c) => line >= c.line && line <= c.last);
  // solc 0.8.30's SMTChecker does not implement custom errors ("does not yet implement type error"), and with
  // some argument lists it then loses the revert itself and reports code after `if (c) revert E(…);` as
  // reachable. It is handed every `revert E(…);` as `revert();`: the same control flow (a revert's payload
  // changes no state). Newlines inside the statement are kept so that line numbers stay those of the file.
  const checked = source.replace(
    /revert\s+\w+\(([^;]*)\);/g,
    (m) => `revert();${"\n".repeat(m.split("\n").length - 1)}`,
  );
  // One compile per contract of the file: each harness contract has a small state of its own, and the CHC
  // engine must find an invariant for the whole state of the contract it analyses.
  const t0 = performance.now();
  const timeoutsBefore = timeouts;
  const errors: SolcError[] = [];
  for (const { name, settings } of contracts) {
    const engine = settings.engine ?? "chc";
    rlimit = Number.parseInt(settings.rlimit ?? String(RLIMIT), 10);
    queryTimeoutMs = Number.parseInt(settings.timeout ?? String(TIMEOUT_MS), 10);
    const input = {
      language: "Solidity",
      sources: { [key]: { content: checked } },
      settings: {
        optimizer: { enabled: false },
        evmVersion: "cancun",
        outputSelection: { "*": { "": [] } },
        modelChecker: {
          engine,
          ...(settings.loops ? { bmcLoopIterations: Number.parseInt(settings.loops, 10) } : {}),
          solvers: ["smtlib2"],
          targets: ["assert", "underflow", "overflow", "divByZero"],
          contracts: { [key]: [name] },
          timeout: queryTimeoutMs,
          showUnproved: true,
          showUnsupported: true,
        },
      },
    };
    const c0 = performance.now();
    const output = JSON.parse(
      solc.compile(JSON.stringify(input), { smtSolver: smtchecker.smtCallback(solve, z3) }),
    ) as { errors?: SolcError[] };
    console.log(`  ${name} (${engine}): ${((performance.now() - c0) / 1000).toFixed(1)} s`);
    const fatal = (output.errors ?? []).filter((e) => e.severity === "error");
    if (fatal.length > 0) {
      for (const e of fatal) console.error(e.formattedMessage ?? e.message);
      throw new Error(`verify:smt: ${file} does not compile`);
    }
    for (const e of output.errors ?? []) {
      const same = (x: SolcError) =>
        x.message === e.message && x.sourceLocation?.start === e.sourceLocation?.start;
      if (!errors.some(same)) errors.push(e);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const solverTrouble = timeouts > timeoutsBefore;

  // The stated properties: `/// @property ID text` above an `assert(`.
  const properties: Property[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /\/\/\/ @property (\S+) (.*)$/.exec(lines[i] ?? "");
    if (!m?.[1] || m[2] === undefined) continue;
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? "").includes("assert(")) j++;
    if (!inScope(j + 1)) continue;
    properties.push({ id: m[1], text: m[2], file: key, line: j + 1, verdict: "proved", detail: "" });
  }
  const arithmetic: Property = {
    id: `${file.replace(".sol", "")}.arith`,
    text: "no overflow, underflow or division by zero on any path (beyond the checked operations that revert by design)",
    file: key,
    line: 0,
    verdict: "proved",
    detail: "",
  };
  const byDesign: string[] = [];

  for (const e of errors) {
    if (!e.sourceLocation || !/^(CHC|BMC):/.test(e.message)) {
      if (/SMTChecker|CHC|BMC/.test(e.message)) console.log(`  note: ${e.message.split("\n")[0]}`);
      continue;
    }
    const line = lineOf(checked, e.sourceLocation.start);
    const counterexample = /happens here/.test(e.message);
    const text = e.formattedMessage ?? e.message;
    const cex = /Counterexample:([\s\S]*?)(?:\n\s*\n|$)/.exec(text);
    const detail = (cex ? `counterexample:${cex[1]}` : e.message.split("\n").slice(1).join(" "))
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, 600);
    if (process.env.SMT_DEBUG) console.log(text);
    const verdict: Verdict = counterexample ? "counterexample" : solverTrouble ? "timed out" : "unproved";
    if (/Assertion violation/.test(e.message)) {
      const prop = properties.find((p) => p.line === line);
      if (prop) {
        prop.verdict = verdict;
        prop.detail = detail;
      } else console.log(`  note: an assertion at ${key}:${line} has no @property tag: ${verdict}`);
      continue;
    }
    // Arithmetic targets: a checked operation marked `// smt: reverts by design` on the line above reverts on
    // purpose (the language's checked arithmetic); anything else fails the harness-wide property.
    const annotation = /\/\/ smt: (.*)$/.exec(lines[line - 2] ?? "");
    if (annotation) {
      byDesign.push(`line ${line}: ${annotation[1]}`);
      continue;
    }
    if (arithmetic.verdict === "proved" || verdict === "counterexample") {
      arithmetic.verdict = verdict;
      arithmetic.detail = `line ${line}: ${e.message.split("\n")[0]} ${detail}`.trim();
    }
  }
  properties.push(arithmetic);
  if (byDesign.length > 0) {
    properties.push({
      id: `${file.replace(".sol", "")}.checked`,
      text: "checked operations that revert instead of wrapping (the solver shows they can be reached; the revert is the intended outcome)",
      file: key,
      line: 0,
      verdict: "reverts by design",
      detail: byDesign.join("; "),
    });
  }
  return { properties, drift: checkVerbatim(key, source), seconds };
}

const hasContract = (f: string) =>
  readFileSync(join(HARNESS_DIR, f), "utf8")
    .split("\n")
    .some((l) => /^contract (\w+)/.exec(l)?.[1]?.includes(ONLY));
const files = readdirSync(HARNESS_DIR)
  .filter((f) => f.endsWith(".sol") && (f.includes(ONLY) || hasContract(f)))
  .sort();
console.log(
  `verify:smt: solc ${solc.version()}, SMTChecker (CHC, or BMC where a harness contract asks), Z3 via smtlib2 callback, per-query timeout ${TIMEOUT_MS} ms`,
);
const started = performance.now();
const all: Property[] = [];
const drift: string[] = [];
for (const file of files) {
  const result = verifyHarness(file);
  console.log(`\n${file} (${result.seconds.toFixed(1)} s)`);
  for (const p of result.properties) {
    const where = p.line ? `:${p.line}` : "";
    console.log(
      `  ${p.verdict.toUpperCase().padEnd(17)} ${p.id.padEnd(30)} ${p.text}${where ? ` (${file}${where})` : ""}`,
    );
    if (p.detail) console.log(`  ${"".padEnd(17)} ${"".padEnd(30)} ${p.detail}`);
  }
  all.push(...result.properties);
  drift.push(...result.drift);
}
// Counterexamples accepted with a reason (test/verification/accepted-counterexamples.txt): printed, not fatal.
const accepted = new Map(
  readFileSync(join(HARNESS_DIR, "accepted-counterexamples.txt"), "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"))
    .map((l) => [l.split(" ")[0] ?? "", l.slice(l.indexOf(" ") + 1)] as const),
);
for (const p of all) {
  const reason = accepted.get(p.id);
  if (p.verdict === "counterexample" && reason)
    console.log(`verify:smt: ${p.id}: counterexample accepted: ${reason}`);
}
const fatalCounterexamples = all.filter((p) => p.verdict === "counterexample" && !accepted.has(p.id)).length;
const count = (v: Verdict) => all.filter((p) => p.verdict === v).length;
console.log(
  `\nverify:smt: ${all.length} properties: ${count("proved")} proved, ${count("reverts by design")} reverts by design, ` +
    `${count("counterexample")} counterexample, ${count("unproved")} unproved, ${count("timed out")} timed out; ` +
    `${queries} solver queries (${timeouts} hit the solver's limit), ${(solverMs / 1000).toFixed(1)} s in Z3, ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s in all`,
);
for (const d of drift) console.error(`verify:smt: ${d}`);
const failed =
  drift.length > 0 || fatalCounterexamples > 0 || (STRICT && count("unproved") + count("timed out") > 0);
process.exit(failed ? 1 : 0);
