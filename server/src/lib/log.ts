import pino, { type Logger } from "pino";

export type { Logger };

/**
 * The process logger. In development it is pretty-printed for a person at a terminal (one line
 * per entry, local time, no pid/hostname); everywhere else it is JSON lines for a collector.
 */
export function createLogger(config: { logLevel: string; env: string }): Logger {
  return pino({
    level: config.logLevel,
    ...(config.env === "development"
      ? {
          transport: {
            target: "pino-pretty",
            options: { translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", singleLine: true },
          },
        }
      : {}),
  });
}
