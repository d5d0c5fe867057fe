// Fails when a route file holds SQL in a string: routes call services, and only the module that
// owns a table runs SQL on it. Route files: server/src/api/routes/**, server/src/web/**, and
// every server/src/*/routes.ts. Part of `npm run lint:deps`.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const src = join(root, "server/src");

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const isRouteFile = (path: string) => /^(api\/routes|web)\//.test(path) || /^[^/]+\/routes\.ts$/.test(path);

/** String and template literals (template text only; `${…}` parts are code). */
const STRINGS = /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g;
const SQL = [
  /\bSELECT\b[\s\S]{1,400}?\bFROM\b/i,
  /\bINSERT\s+INTO\b/i,
  /\bUPDATE\s+[\w."]+\s+SET\b/i,
  /\bDELETE\s+FROM\b/i,
];

export function sqlInRouteFiles(): string[] {
  const problems: string[] = [];
  for (const file of walk(src).filter((f) => f.endsWith(".ts"))) {
    const path = relative(src, file).split("\\").join("/");
    if (!isRouteFile(path)) continue;
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(STRINGS)) {
      if (!SQL.some((pattern) => pattern.test(match[0]))) continue;
      const line = text.slice(0, match.index).split("\n").length;
      problems.push(
        `server/src/${path}:${line}: SQL in a route file: ${match[0].slice(0, 80).replace(/\s+/g, " ")}`,
      );
    }
  }
  return problems;
}

if (import.meta.main) {
  const problems = sqlInRouteFiles();
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(
      `check-route-sql: ${problems.length} route file string(s) hold SQL; move the query into a service`,
    );
    process.exit(1);
  }
  console.log("check-route-sql: no SQL in route files");
}
