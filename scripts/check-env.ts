// Fails when a file under server/src other than config/ and main.ts reads process.env: the
// configuration is read and validated once, by loadConfig(), and passed down from there.
// Part of `npm run lint:deps`.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const src = join(root, "server/src");

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const allowed = (path: string) => path.startsWith("config/") || path === "main.ts";
const READS = [
  /\bprocess\s*\.\s*env\b/,
  /\bprocess\s*\[\s*["'`]env["'`]\s*\]/,
  /\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/,
];

export function envReaders(): string[] {
  const problems: string[] = [];
  for (const file of walk(src).filter((f) => /\.[cm]?[jt]s$/.test(f))) {
    const path = relative(src, file).split("\\").join("/");
    if (allowed(path)) continue;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (READS.some((pattern) => pattern.test(line)))
          problems.push(`server/src/${path}:${i + 1}: reads process.env: ${line.trim().slice(0, 100)}`);
      });
  }
  return problems;
}

if (import.meta.main) {
  const problems = envReaders();
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(
      `check-env: ${problems.length} place(s) read process.env outside server/src/config/ and main.ts; read it in loadConfig() and pass the value down`,
    );
    process.exit(1);
  }
  console.log("check-env: only server/src/config/ and main.ts read process.env");
}
