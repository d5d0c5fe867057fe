import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throwaway PostgreSQL cluster of the soak's own (initdb in a temp directory, loopback only, a
 * free port), so that restarting it is a real fault for the system under test and harms nothing
 * else on the machine. Runs as the `postgres` user when started as root (initdb refuses root).
 */
export interface PgCluster {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(database: string): string;
  /** pg_ctl restart -m fast, without blocking the event loop (receivers and proxies live in it). */
  restart(): Promise<void>;
  stop(): void;
}

function pgBin(name: string): string {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) throw new Error(`no PostgreSQL server binaries under ${base}: install postgresql`);
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const path = join(base, v, "bin", name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found under ${base}/*/bin`);
}

export function startPgCluster(port: number): PgCluster {
  const dir = mkdtempSync(join(tmpdir(), "ethpos-soak-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  chmodSync(dir, 0o777);
  const run = (bin: string, args: string[]) => {
    const cmd = asRoot ? "runuser" : bin;
    const full = asRoot ? ["-u", "postgres", "--", bin, ...args] : args;
    const result = spawnSync(cmd, full, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (result.status !== 0)
      throw new Error(`${bin} ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  };
  run(pgBin("initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=300",
    "-c shared_buffers=64MB",
  ].join(" ");
  const ctl = (args: string[]) => run(pgBin("pg_ctl"), ["-D", data, "-w", "-t", "60", ...args]);
  ctl(["-o", options, "-l", join(dir, "log"), "start"]);
  let stopped = false;
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    restart: async () => {
      const args = [
        "-D",
        data,
        "-w",
        "-t",
        "60",
        "-m",
        "fast",
        "-o",
        options,
        "-l",
        join(dir, "log"),
        "restart",
      ];
      const bin = pgBin("pg_ctl");
      if (asRoot) await promisify(execFile)("runuser", ["-u", "postgres", "--", bin, ...args]);
      else await promisify(execFile)(bin, args);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        ctl(["-m", "immediate", "stop"]);
      } catch {
        // already down
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a database on the cluster through psql (no pool kept open). */
export function createDatabase(cluster: PgCluster, name: string): void {
  execFileSync(pgBin("psql"), [
    "-h",
    "127.0.0.1",
    "-p",
    String(cluster.port),
    "-U",
    "postgres",
    "-d",
    "postgres",
    "-qc",
    `CREATE DATABASE ${name}`,
  ]);
}
