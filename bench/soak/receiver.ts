import { createServer, type Server } from "node:http";

export type ReceiverMode = "ok" | "down" | "error500" | "slow" | "timeout";

export interface Delivery {
  eventId: string;
  body: string;
  at: number;
}

/**
 * A merchant's callback endpoint on loopback that can misbehave on demand: down (nothing listens),
 * answering 500, answering slowly (under the worker's timeout) or never (past it). It records every
 * callback it accepted with 200 — the only ones the sender may count as delivered.
 */
export interface FaultyReceiver {
  url: string;
  mode: ReceiverMode;
  /** Accepted (200) deliveries, in the order they were accepted. */
  accepted: Delivery[];
  /** Requests seen in any mode (accepted or not). */
  seen: number;
  setMode(mode: ReceiverMode): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultyReceiver(port: number, slowMs: number): Promise<FaultyReceiver> {
  let server: Server | undefined;
  const state: FaultyReceiver = {
    url: `http://127.0.0.1:${port}/callback`,
    mode: "ok",
    accepted: [],
    seen: 0,
    setMode: async (mode) => {
      if (mode === "down" && server) await stop();
      if (mode !== "down" && !server) await listen();
      state.mode = mode;
    },
    close: () => stop(),
  };
  const handle = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      state.seen++;
      const mode = state.mode;
      if (mode === "error500") {
        res.statusCode = 500;
        res.end("receiver fault");
        return;
      }
      if (mode === "timeout") return; // never answers: the sender's timeout must fire
      const accept = () => {
        if (res.destroyed || req.socket.destroyed) return; // the sender gave up: not delivered
        const eventId = req.headers["x-ethpos-event-id"];
        state.accepted.push({
          eventId: typeof eventId === "string" ? eventId : "",
          body: Buffer.concat(chunks).toString("utf8"),
          at: Date.now(),
        });
        res.statusCode = 200;
        res.end("OK");
      };
      if (mode === "slow") setTimeout(accept, slowMs);
      else accept();
    });
  });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const attempt = (left: number) => {
        handle.once("error", (error) =>
          left > 0 ? setTimeout(() => attempt(left - 1), 100) : reject(error),
        );
        handle.listen(port, "127.0.0.1", () => {
          server = handle;
          handle.removeAllListeners("error");
          resolve();
        });
      };
      attempt(50);
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.closeAllConnections();
      s.close(() => resolve());
    });
  await listen();
  return state;
}
