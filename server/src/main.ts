/**
 * Server entry point: validates the configuration once, starts the system, and shuts down
 * cleanly on SIGINT/SIGTERM. Configuration problems end in one line that names the problem.
 */
import { loadConfig } from "./config/index.ts";
import { ConfigError, firstLine } from "./lib/errors.ts";
import { startSystem } from "./system.ts";

export async function main(): Promise<void> {
  let system: Awaited<ReturnType<typeof startSystem>>;
  try {
    system = await startSystem(loadConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`ethereum-pos: configuration error: ${error.message}`);
    } else if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      console.error(
        `ethereum-pos: cannot listen: ${(error as Error).message}; set PORT (or METRICS_PORT) to a free port`,
      );
    } else {
      console.error(`ethereum-pos: failed to start: ${firstLine(error)}`);
    }
    process.exit(1);
  }
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    system.log.info(`${signal} received, shutting down`);
    await system.close();
    process.exit(process.exitCode ?? 0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

if (import.meta.main) await main();
