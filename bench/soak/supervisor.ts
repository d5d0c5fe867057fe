import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";

/**
 * Runs the server processes of the deployment the way a process manager does: each one is
 * restarted shortly after it exits, whatever the reason (a kill -9 by the fault injector, or the
 * process stopping itself after losing its database). Output goes to one log file per process.
 */
export interface Managed {
  name: string;
  role: "api" | "indexer" | "worker";
  port: number | undefined;
  proc: ChildProcess | undefined;
  starts: number;
  /** Exits that the soak did not cause (not a kill -9 of its own, not the final stop). */
  unexpectedExits: { code: number | null; signal: string | null; at: number }[];
  kill9(): void;
  alive(): boolean;
}

export interface Supervisor {
  add(name: string, role: Managed["role"], env: Record<string, string>, port?: number): Managed;
  all: Managed[];
  stop(): Promise<void>;
}

export function createSupervisor(options: {
  node: string;
  entry: string;
  cwd: string;
  logDir: string;
  restartDelayMs: number;
}): Supervisor {
  const all: Managed[] = [];
  let stopping = false;
  const logs: WriteStream[] = [];

  const add: Supervisor["add"] = (name, role, env, port) => {
    const log = createWriteStream(`${options.logDir}/${name}.log`, { flags: "a" });
    logs.push(log);
    let killedBySoak = false;
    const m: Managed = {
      name,
      role,
      port,
      proc: undefined,
      starts: 0,
      unexpectedExits: [],
      kill9() {
        if (!m.alive()) return;
        killedBySoak = true;
        m.proc?.kill("SIGKILL");
      },
      alive: () => Boolean(m.proc && m.proc.exitCode === null && m.proc.signalCode === null),
    };
    const start = () => {
      if (stopping) return;
      m.starts++;
      log.write(`\n=== start #${m.starts} at ${new Date().toISOString()}\n`);
      const child = spawn(options.node, [options.entry], {
        cwd: options.cwd,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      m.proc = child;
      child.once("exit", (code, signal) => {
        log.write(`=== exit code=${code} signal=${signal} at ${new Date().toISOString()}\n`);
        if (!killedBySoak && !stopping) m.unexpectedExits.push({ code, signal, at: Date.now() });
        killedBySoak = false;
        if (!stopping) setTimeout(start, options.restartDelayMs);
      });
    };
    all.push(m);
    start();
    return m;
  };

  return {
    add,
    all,
    async stop() {
      stopping = true;
      await Promise.all(
        all.map(
          (m) =>
            new Promise<void>((resolve) => {
              const p = m.proc;
              if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once("exit", () => resolve());
              p.kill("SIGTERM");
              setTimeout(() => p.kill("SIGKILL"), 5_000).unref();
            }),
        ),
      );
      for (const log of logs) log.end();
    },
  };
}
