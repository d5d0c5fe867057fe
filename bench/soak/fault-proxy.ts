import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A local TCP proxy that injects network faults between the system and one of its dependencies
 * (a chain node's JSON-RPC, PostgreSQL):
 * - `down()`: the listener closes and every open connection is reset (connection refused / reset);
 * - `pause()`: connections stay open but no byte moves either way, new ones included (a hung peer);
 * - `slow(ms)`: every chunk is held `ms` before it is forwarded (a slow peer);
 * - `up()` / `resume()` / `slow(0)` end each fault.
 */
export interface FaultProxy {
  port: number;
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  pause(): void;
  resume(): void;
  slow(ms: number): void;
  close(): Promise<void>;
}

export async function startFaultProxy(
  targetPort: number,
  port: number,
  scheme = "http",
): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let paused = false;
  let delayMs = 0;
  const held: (() => void)[] = [];

  const pipe = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (paused) {
        from.pause();
        held.push(() => {
          send();
          from.resume();
        });
      } else if (delayMs > 0) {
        from.pause();
        setTimeout(() => {
          send();
          from.resume();
        }, delayMs);
      } else send();
    });
    from.on("end", () => to.end());
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, "127.0.0.1");
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on("close", () => {
            sockets.delete(sock);
            client.destroy();
            upstream.destroy();
          });
          sock.on("error", () => sock.destroy());
        }
        pipe(client, upstream);
        pipe(upstream, client);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        resolve();
      });
    });

  const down = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.resetAndDestroy();
      if (!s) return resolve();
      s.close(() => resolve());
    });

  const resume = () => {
    paused = false;
    for (const release of held.splice(0)) release();
  };

  await listen();
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    down,
    up: async () => {
      if (server) return;
      // The port may linger briefly after close: retry a few times.
      for (let i = 0; ; i++) {
        try {
          await listen();
          return;
        } catch (error) {
          if (i > 50) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    pause: () => {
      paused = true;
    },
    resume,
    slow: (ms) => {
      delayMs = ms;
    },
    close: async () => {
      resume();
      await down();
    },
  };
}
