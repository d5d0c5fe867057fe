// Branch coverage for the Solidity sources that `hardhat test --coverage` instrumented.
//
// Hardhat 3 (EDR) only reports line and statement coverage: its lcov has no BRDA lines. This script
// derives branch coverage from the same run, without re-running anything:
//
//   1. Hit counts: coverage/data/<run>/*.json maps each statement tag (hex) to the number of transactions
//      that executed it at least once (EDR reports each tag once per transaction, Hardhat sums them).
//   2. Tag -> source range: `addStatementCoverageInstrumentation` from `@nomicfoundation/edr`, the function
//      Hardhat instruments with. Tags are a hash of the whole file, its source name (`project/<path>`) and
//      the solc version, so re-instrumenting the unchanged file gives exactly the tags in the data file.
//      Any edit to the file after the run changes every tag: then no tag matches and this script fails
//      instead of reporting stale figures.
//   3. Branch points from the solc AST (npm `solc`, the project's compiler):
//      - `if`: true side taken iff the true body was entered (its tag, or its first statement's, was hit).
//        With an `else`, the false side likewise from the else body. Without one, the false side was taken
//        iff hits(if) > hits(true body): some transaction reached the `if` and did not enter its body.
//      - `try`/`catch`: every clause is a side, taken iff its block's first statement was hit. One clause
//        with an empty block (like `try ... {} catch {...}`) is derived: hits(try) > sum of the others.
//      - `require`/`assert`: passes iff the next statement in the block was hit; fails iff
//        hits(require) > hits(next statement).
//      The derived sides ("hits(a) > hits(b)") err in one direction only: a transaction that went both
//      ways through the same `if` (a loop, or two calls in one test) adds 1 to hits(if) and to hits(body)
//      and so does not count for the false side; a side can show as not taken although it was, never the
//      reverse (the one exception: a transaction whose condition evaluation itself reverted counts as a
//      false side). So a side reported uncovered is a lead to check with the tests; a covered one was run.
//   4. Not measurable from statement hits, listed apart and excluded from Branch %: ternaries (`c ? a : b`)
//      and the short-circuit operands of `&&`/`||`, because they contain no statement.
//
// Prints a table like Hardhat's, writes BRDA/BRF/BRH lines into coverage/lcov.info, and exits 1 when a
// file is below --min-lines (default 100) or --min-branches (default 95) percent, 2 on missing/stale data.
//
// Usage: hardhat test solidity --coverage && node scripts/coverage-branches.ts [--min-lines=100]
//        [--min-branches=95] [--data=solidity,mocha] [--no-lcov]
import fs from "node:fs";
import path from "node:path";
import { styleText } from "node:util";
import { addStatementCoverageInstrumentation, latestSupportedSolidityVersion } from "@nomicfoundation/edr";
import solc from "solc";

const ROOT = path.resolve(import.meta.dirname, "..");
const COVERAGE_DIR = path.join(ROOT, "coverage");
const LCOV_PATH = path.join(COVERAGE_DIR, "lcov.info");
const DATA_DIR = path.join(COVERAGE_DIR, "data");

class UsageError extends Error {}

interface Options {
  minLines: number;
  minBranches: number;
  lcov: boolean;
  /** Test runners whose hit data to read (coverage/data/<id>); undefined = all of them. */
  data: string[] | undefined;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { minLines: 100, minBranches: 95, lcov: true, data: undefined };
  for (const arg of argv) {
    const [key, value] = arg.split("=", 2);
    if (key === "--min-lines" && value !== undefined) opts.minLines = Number(value);
    else if (key === "--data" && value) opts.data = value.split(",");
    else if (key === "--min-branches" && value !== undefined) opts.minBranches = Number(value);
    else if (arg === "--no-lcov") opts.lcov = false;
    else throw new UsageError(`unknown argument ${arg}`);
  }
  if (!Number.isFinite(opts.minLines) || !Number.isFinite(opts.minBranches)) {
    throw new UsageError("--min-lines and --min-branches take a number");
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------------
// Inputs: lcov line figures, hit counts, statement tags
// ---------------------------------------------------------------------------------------------------

interface LcovRecord {
  file: string;
  linesFound: number;
  linesHit: number;
}

function readLcov(): LcovRecord[] {
  if (!fs.existsSync(LCOV_PATH)) {
    throw new UsageError(
      `${path.relative(ROOT, LCOV_PATH)} not found: run \`hardhat test --coverage\` first`,
    );
  }
  const records: LcovRecord[] = [];
  let current: LcovRecord | undefined;
  for (const line of fs.readFileSync(LCOV_PATH, "utf8").split("\n")) {
    if (line.startsWith("SF:")) current = { file: line.slice(3), linesFound: 0, linesHit: 0 };
    else if (current && line.startsWith("LF:")) current.linesFound = Number(line.slice(3));
    else if (current && line.startsWith("LH:")) current.linesHit = Number(line.slice(3));
    else if (current && line === "end_of_record") {
      records.push(current);
      current = undefined;
    }
  }
  return records;
}

/**
 * Sums coverage/data/<test runner>/<uuid>.json, as Hardhat's report does. Each runner (solidity, mocha)
 * clears only its own folder, so a folder left by an earlier run of another runner is read too unless
 * --data names the runners.
 */
function readHits(ids: string[] | undefined): Map<string, number> {
  const hits = new Map<string, number>();
  const dirs = fs.existsSync(DATA_DIR)
    ? fs
        .readdirSync(DATA_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
    : [];
  for (const id of ids ?? dirs) {
    if (!dirs.includes(id))
      throw new UsageError(`no hit data in ${path.relative(ROOT, path.join(DATA_DIR, id))}`);
    const files = fs.readdirSync(path.join(DATA_DIR, id)).filter((n) => n.endsWith(".json"));
    const written = files.map((n) => fs.statSync(path.join(DATA_DIR, id, n)).mtime.toISOString());
    console.log(
      `Hit data: coverage/data/${id} (${files.length} file(s), written ${written.join(", ") || "-"})`,
    );
    for (const name of files) {
      const file = path.join(DATA_DIR, id, name);
      const entries = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, number>;
      for (const [tag, count] of Object.entries(entries)) hits.set(tag, (hits.get(tag) ?? 0) + count);
    }
  }
  if (hits.size === 0) {
    throw new UsageError(
      `no hit data under ${path.relative(ROOT, DATA_DIR)}: run \`hardhat test --coverage\` first`,
    );
  }
  return hits;
}

interface Tag {
  tag: string;
  start: number; // UTF-16 offsets, including leading/trailing trivia (whitespace, comments)
  end: number;
}

/** Same call and arguments as hardhat/.../coverage/instrumentation.js. */
function statementTags(relativePath: string, content: string, solcVersion: string): Tag[] {
  const latest = latestSupportedSolidityVersion();
  const version = compareVersions(solcVersion, latest) > 0 ? latest : solcVersion;
  // Hardhat 3 source names of project files are `project/<path relative to the root>`.
  const sourceName = `project/${relativePath.split(path.sep).join("/")}`;
  const { metadata } = addStatementCoverageInstrumentation(content, sourceName, version);
  return metadata
    .filter((m) => m.kind === "statement")
    .map((m) => ({ tag: Buffer.from(m.tag).toString("hex"), start: m.startUtf16, end: m.endUtf16 }));
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------------------------------

interface AstNode {
  nodeType: string;
  src: string;
  [key: string]: unknown;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && typeof (value as AstNode).nodeType === "string";
}

/** Parses the files with the project's compiler (npm `solc`); npm imports resolve from node_modules. */
function parseAsts(files: string[]): Map<string, AstNode> {
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(
      files.map((f) => [f, { content: fs.readFileSync(path.join(ROOT, f), "utf8") }]),
    ),
    settings: { stopAfter: "parsing", outputSelection: { "*": { "": ["ast"] } } },
  };
  const findImports = (importPath: string): { contents: string } | { error: string } => {
    for (const candidate of [path.join(ROOT, importPath), path.join(ROOT, "node_modules", importPath)]) {
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
    }
    return { error: `not found: ${importPath}` };
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as {
    errors?: { severity: string; formattedMessage: string }[];
    sources?: Record<string, { ast: AstNode }>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new UsageError(errors.map((e) => e.formattedMessage).join("\n"));
  const asts = new Map<string, AstNode>();
  for (const f of files) {
    const ast = output.sources?.[f]?.ast;
    if (ast === undefined) throw new UsageError(`solc returned no AST for ${f}`);
    asts.set(f, ast);
  }
  return asts;
}

function* walk(node: unknown): Generator<AstNode> {
  if (Array.isArray(node)) {
    for (const child of node) yield* walk(child);
  } else if (typeof node === "object" && node !== null) {
    if (isNode(node)) yield node;
    for (const value of Object.values(node)) {
      if (typeof value === "object" && value !== null) yield* walk(value);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// One file: map AST nodes to tags and measure each branch point
// ---------------------------------------------------------------------------------------------------

interface Side {
  label: string;
  line: number;
  /** Transactions that took this side (a lower bound for derived sides); undefined = not measurable. */
  taken: number | undefined;
}

interface BranchPoint {
  kind: string;
  line: number;
  /** How often the branch point itself was reached (transactions); undefined if it has no tag. */
  reached: number | undefined;
  sides: Side[];
}

interface Unmeasurable {
  kind: string;
  line: number;
  text: string;
}

interface FileReport {
  file: string;
  linesFound: number;
  linesHit: number;
  statements: number;
  statementsHit: number;
  points: BranchPoint[];
  unmeasurable: Unmeasurable[];
}

const TRIVIA = /^(?:\s|\/\/[^\n]*|\/\*[\s\S]*?\*\/)*$/;
// solc's `src` of simple statements (revert, expression, return...) stops before their `;`.
const TRAILING = /^;?(?:\s|\/\/[^\n]*|\/\*[\s\S]*?\*\/)*$/;

function analyzeFile(
  record: LcovRecord,
  ast: AstNode,
  content: string,
  tags: Tag[],
  hits: Map<string, number>,
): FileReport {
  // solc `src` offsets are UTF-8 bytes; EDR's are UTF-16 code units.
  const byteToUtf16 = new Map<number, number>();
  let bytes = 0;
  for (let i = 0; i < content.length; i++) {
    byteToUtf16.set(bytes, i);
    const code = content.codePointAt(i) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (code >= 0x10000) i++;
  }
  byteToUtf16.set(bytes, content.length);
  const lineStarts = [0];
  for (let i = 0; i < content.length; i++) if (content[i] === "\n") lineStarts.push(i + 1);

  const range = (node: AstNode): [number, number] => {
    const [start, length] = node.src.split(":").map(Number) as [number, number];
    const s = byteToUtf16.get(start);
    const e = byteToUtf16.get(start + length);
    if (s === undefined || e === undefined) throw new Error(`bad src ${node.src}`);
    return [s, e];
  };
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const lineOfNode = (node: AstNode): number => lineOf(range(node)[0]);

  /** Hits of the tag that instruments exactly this statement (its range plus trivia), if any. */
  const tagHits = (node: AstNode): number | undefined => {
    const [s, e] = range(node);
    let best: Tag | undefined;
    for (const t of tags) {
      if (t.start > s || t.end < e) continue;
      if (!TRIVIA.test(content.slice(t.start, s)) || !TRAILING.test(content.slice(e, t.end))) continue;
      if (best === undefined || t.end - t.start < best.end - best.start) best = t;
    }
    return best === undefined ? undefined : (hits.get(best.tag) ?? 0);
  };
  /** Transactions that entered this statement or block: its own tag, else its first statement's. */
  const entryHits = (node: AstNode | null | undefined): number | undefined => {
    if (!isNode(node)) return undefined;
    const own = tagHits(node);
    if (own !== undefined) return own;
    if (node.nodeType === "Block" || node.nodeType === "UncheckedBlock") {
      const first = (node.statements as unknown[])[0];
      return isNode(first) ? entryHits(first) : undefined;
    }
    return undefined;
  };
  const minus = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : Math.max(0, a - b);

  // The statement following each statement in its block, for require/assert.
  const nextInBlock = new Map<AstNode, AstNode>();
  for (const node of walk(ast)) {
    if (node.nodeType === "Block" || node.nodeType === "UncheckedBlock") {
      const statements = (node.statements as unknown[]).filter(isNode);
      statements.forEach((s, i) => {
        const next = statements[i + 1];
        if (next) nextInBlock.set(s, next);
      });
    }
  }

  const points: BranchPoint[] = [];
  const unmeasurable: Unmeasurable[] = [];
  for (const node of walk(ast)) {
    switch (node.nodeType) {
      case "IfStatement": {
        const reached = tagHits(node);
        const trueBody = node.trueBody as AstNode;
        const falseBody = node.falseBody as AstNode | null;
        const trueTaken = entryHits(trueBody);
        const falseTaken = isNode(falseBody) ? entryHits(falseBody) : minus(reached, trueTaken);
        points.push({
          kind: isNode(falseBody) ? "if/else" : "if",
          line: lineOfNode(node),
          reached,
          sides: [
            { label: "true", line: lineOfNode(trueBody), taken: trueTaken },
            {
              label: "false",
              line: isNode(falseBody) ? lineOfNode(falseBody) : lineOfNode(node),
              taken: falseTaken,
            },
          ],
        });
        break;
      }
      case "TryStatement": {
        const reached = tagHits(node);
        const clauses = (node.clauses as AstNode[]).map((clause, i) => ({
          label: i === 0 ? "success" : `catch${clause.errorName ? ` ${String(clause.errorName)}` : ""}`,
          line: lineOfNode(clause),
          taken: entryHits(clause.block as AstNode),
        }));
        const unknown = clauses.filter((c) => c.taken === undefined);
        const only = unknown[0];
        if (unknown.length === 1 && only) {
          only.taken = minus(
            reached,
            clauses.reduce((sum, c) => sum + (c.taken ?? 0), 0),
          );
        }
        points.push({ kind: "try", line: lineOfNode(node), reached, sides: clauses });
        break;
      }
      case "ExpressionStatement": {
        const call = node.expression as AstNode;
        const callee = call.nodeType === "FunctionCall" ? (call.expression as AstNode) : undefined;
        if (callee?.nodeType !== "Identifier" || !["require", "assert"].includes(String(callee.name))) break;
        const reached = tagHits(node);
        const next = nextInBlock.get(node);
        const passed = next ? entryHits(next) : undefined;
        points.push({
          kind: String(callee.name),
          line: lineOfNode(node),
          reached,
          sides: [
            { label: "passes", line: lineOfNode(node), taken: passed },
            { label: "fails", line: lineOfNode(node), taken: minus(reached, passed) },
          ],
        });
        break;
      }
      case "Conditional":
      case "BinaryOperation": {
        if (node.nodeType === "BinaryOperation" && node.operator !== "&&" && node.operator !== "||") break;
        const [s, e] = range(node);
        const text = content.slice(s, e).replace(/\s+/g, " ");
        unmeasurable.push({
          kind: node.nodeType === "Conditional" ? "ternary" : String(node.operator),
          line: lineOf(s),
          text: text.length > 70 ? `${text.slice(0, 69)}…` : text,
        });
        break;
      }
    }
  }
  points.sort((a, b) => a.line - b.line);
  unmeasurable.sort((a, b) => a.line - b.line);

  return {
    file: record.file,
    linesFound: record.linesFound,
    linesHit: record.linesHit,
    statements: tags.length,
    statementsHit: tags.filter((t) => (hits.get(t.tag) ?? 0) > 0).length,
    points,
    unmeasurable,
  };
}

// ---------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------

const pct = (hit: number, found: number): number => (found === 0 ? 100 : (hit * 100) / found);
const fmt = (value: number): string => value.toFixed(2);

function branchCounts(report: FileReport): { found: number; hit: number; unmeasured: number } {
  const sides = report.points.flatMap((p) => p.sides);
  const measured = sides.filter((s) => s.taken !== undefined);
  return {
    found: measured.length,
    hit: measured.filter((s) => (s.taken ?? 0) > 0).length,
    unmeasured: sides.length - measured.length + report.unmeasurable.length * 2,
  };
}

/** A box table in the style of Hardhat's coverage report; with `total`, the last row is set apart. */
function table(title: string, header: string[], rows: string[][], total = false): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  // Inner width of a row: cells, " │ " separators; the title may widen the last column.
  const inner = (): number => widths.reduce((sum, w) => sum + w + 3, -3);
  const extra = title.length - inner();
  if (extra > 0) widths[widths.length - 1] = (widths.at(-1) ?? 0) + extra;
  const row = (cells: string[], style?: "yellow"): string =>
    `║ ${cells
      .map((c, i) => {
        const padded = c.padEnd(widths[i] ?? 0);
        return style ? styleText(style, padded) : padded;
      })
      .join(" │ ")} ║`;
  const rule = (left: string, mid: string, right: string, fill = "─"): string =>
    `${left}${widths.map((w) => fill.repeat(w + 2)).join(mid)}${right}`;
  const body = (total ? rows.slice(0, -1) : rows).map((r) => row(r));
  const last = total ? rows.at(-1) : undefined;
  return [
    `╔${"═".repeat(inner() + 2)}╗`,
    `║ ${styleText("bold", title.padEnd(inner()))} ║`,
    rule("╟", "┬", "╢"),
    row(header, "yellow"),
    rule("╟", "┼", "╢"),
    ...body,
    ...(last ? [rule("╟", "┼", "╢"), row(last)] : []),
    rule("╚", "╧", "╝", "═"),
  ].join("\n");
}

function printReports(reports: FileReport[]): void {
  for (const r of reports) {
    const sideText = (p: BranchPoint, side: Side): string => {
      const where = side.line === p.line ? "" : ` (line ${side.line})`;
      const taken =
        side.taken === undefined ? "not measurable" : side.taken === 0 ? "0  NOT TAKEN" : String(side.taken);
      return `${side.label}${where}: ${taken}`;
    };
    const width = Math.max(2, ...r.points.map((p) => p.sides.length));
    const pointRows = r.points.map((p) => {
      const cells = p.sides.map((side) => sideText(p, side));
      while (cells.length < width) cells.push("");
      return [String(p.line), p.kind, ...cells];
    });
    const sideHeaders = Array.from({ length: width }, (_, i) => `Side ${i + 1}: transactions`);
    console.log(
      table(`${r.file}: branch points (${r.points.length})`, ["Line", "Branch", ...sideHeaders], pointRows),
    );
    if (r.unmeasurable.length > 0) {
      console.log(
        table(
          `Not measurable from statement hits, excluded from Branch % (${r.unmeasurable.length * 2} sides)`,
          ["Line", "Kind", "Expression"],
          r.unmeasurable.map((u) => [String(u.line), u.kind, u.text]),
        ),
      );
    }
  }
  const rows: string[][] = [];
  let totals = { lf: 0, lh: 0, sf: 0, sh: 0, bf: 0, bh: 0 };
  for (const r of reports) {
    const b = branchCounts(r);
    totals = {
      lf: totals.lf + r.linesFound,
      lh: totals.lh + r.linesHit,
      sf: totals.sf + r.statements,
      sh: totals.sh + r.statementsHit,
      bf: totals.bf + b.found,
      bh: totals.bh + b.hit,
    };
    const uncovered = r.points.flatMap((p) =>
      p.sides.filter((s) => s.taken === 0).map((s) => `${s.line} (${p.kind} ${s.label})`),
    );
    rows.push([
      r.file,
      fmt(pct(r.linesHit, r.linesFound)),
      fmt(pct(r.statementsHit, r.statements)),
      fmt(pct(b.hit, b.found)),
      `${b.hit}/${b.found}`,
      uncovered.length === 0 ? "-" : uncovered.join(", "),
    ]);
  }
  rows.push([
    "Total",
    fmt(pct(totals.lh, totals.lf)),
    fmt(pct(totals.sh, totals.sf)),
    fmt(pct(totals.bh, totals.bf)),
    `${totals.bh}/${totals.bf}`,
    "",
  ]);
  console.log(
    table(
      "Branch Coverage (if/else, try/catch, require/assert)",
      ["File Path", "Line %", "Statement %", "Branch %", "Branches", "Uncovered Branches"],
      rows,
      true,
    ),
  );
}

/** Adds BRDA/BRF/BRH to the file records (replacing earlier ones), before their DA lines. */
function writeLcovBranches(reports: FileReport[]): void {
  const byFile = new Map(reports.map((r) => [r.file, r]));
  const out: string[] = [];
  let current: FileReport | undefined;
  let inserted = false;
  for (const line of fs.readFileSync(LCOV_PATH, "utf8").split("\n")) {
    if (/^BR(DA|F|H):/.test(line)) continue;
    if (line.startsWith("SF:")) {
      current = byFile.get(line.slice(3));
      inserted = false;
    }
    if (current && !inserted && (line.startsWith("DA:") || line === "end_of_record")) {
      current.points.forEach((p, block) =>
        p.sides.forEach((s, branch) => {
          if (s.taken === undefined) return;
          const taken = p.reached === 0 ? "-" : String(s.taken);
          out.push(`BRDA:${p.line},${block},${branch},${taken}`);
        }),
      );
      const b = branchCounts(current);
      out.push(`BRF:${b.found}`, `BRH:${b.hit}`);
      inserted = true;
    }
    out.push(line);
  }
  fs.writeFileSync(LCOV_PATH, out.join("\n"));
}

// ---------------------------------------------------------------------------------------------------

function main(): number {
  const opts = parseArgs(process.argv.slice(2));
  const records = readLcov().filter((r) => r.file.endsWith(".sol"));
  if (records.length === 0) throw new UsageError("coverage/lcov.info lists no Solidity file");
  const hits = readHits(opts.data);
  const solcVersion = String(solc.version()).split("+")[0] ?? "";
  const asts = parseAsts(records.map((r) => r.file));

  const reports: FileReport[] = [];
  for (const record of records) {
    const absolute = path.join(ROOT, record.file);
    const content = fs.readFileSync(absolute, "utf8");
    const tags = statementTags(record.file, content, solcVersion);
    const matched = tags.filter((t) => hits.has(t.tag)).length;
    if (matched === 0 && record.linesHit > 0) {
      throw new UsageError(
        `${record.file} changed after the coverage run (its statement tags no longer match the hit data): ` +
          "re-run `hardhat test --coverage`",
      );
    }
    const ast = asts.get(record.file);
    if (ast === undefined) throw new UsageError(`no AST for ${record.file}`);
    reports.push(analyzeFile(record, ast, content, tags, hits));
  }

  printReports(reports);
  if (opts.lcov) writeLcovBranches(reports);

  const failures: string[] = [];
  for (const r of reports) {
    const lines = pct(r.linesHit, r.linesFound);
    const b = branchCounts(r);
    const branches = pct(b.hit, b.found);
    if (lines < opts.minLines) failures.push(`${r.file}: lines ${fmt(lines)} % < ${opts.minLines} %`);
    if (branches < opts.minBranches)
      failures.push(`${r.file}: branches ${fmt(branches)} % < ${opts.minBranches} %`);
  }
  console.log();
  if (failures.length > 0) {
    for (const f of failures) console.error(styleText("red", `coverage-branches: ${f}`));
    return 1;
  }
  console.log(
    `coverage-branches: thresholds met (lines >= ${opts.minLines} %, branches >= ${opts.minBranches} %)`,
  );
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(styleText("red", `coverage-branches: ${error.message}`));
  process.exitCode = 2;
}
