// `npm run lint:deps`: the layering rules. Runs every check and fails if any failed, so one run
// shows every violation: dependency-cruiser (.dependency-cruiser.cjs: no circles, a domain-free
// indexer core, domain modules without HTTP, routes without the database, a product that imports
// no test, benchmark or script), no SQL in route files, and process.env read only by
// server/src/config/ and main.ts. The cruise covers the product and what may import it (scripts,
// benchmarks, tests and their harness), so a rule about either side sees both.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const run = (command: string, args: string[]) =>
  spawnSync(command, args, { cwd: root, stdio: "inherit" }).status === 0;

const results = [
  run(join(root, "node_modules/.bin/depcruise"), [
    "--config",
    ".dependency-cruiser.cjs",
    "server/src",
    "scripts",
    "bench",
    "test",
  ]),
  run(process.execPath, [join(root, "scripts/check-route-sql.ts")]),
  run(process.execPath, [join(root, "scripts/check-env.ts")]),
];
if (results.includes(false)) process.exit(1);
