/**
 * The one callback receiver of the tests, the benchmarks and the dev stack: a real HTTP server on
 * loopback standing in for a merchant's callback endpoint (or an SMS provider's webhook, or
 * EletroPay's). It records every POST it gets (path, headers, raw body, when, what it answered)
 * and checks each `X-EthPOS-Signature` with the server's own `verifySignature` against the
 * secrets it is given. It can misbehave on demand (`setMode`): down (nothing listens on its
 * port), answer a status such as 500, answer slowly, or never answer. A GET answers the
 * deliveries it keeps as JSON (`?order=<id>`: that order's), which is how `npm run demo` shows
 * its order's callbacks from `npm start`'s receiver; `print` writes one line per callback.
 *
 * The harness imports the product, never the reverse (`npm run lint:deps`).
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { verifySignature } from "../../server/src/callbacks/signing.ts";

/**
 * How the receiver answers a POST: `ok` (200), `down` (its port refuses connections), a status
 * code (e.g. 500), `{ slowMs }` (200 after that long) or `timeout` (never: the sender's timeout
 * must fire).
 */
export type ReceiverMode = "ok" | "down" | "timeout" | number | { slowMs: number };

/**
 * The signature check of one delivery: `valid` (a `v1` matches one of the receiver's secrets,
 * within the 300 s tolerance), `invalid` (none does: a wrong or stale signature, or a secret the
 * receiver was not given), `unsigned` (no header) or `unchecked` (the receiver has no secrets).
 */
export type SignatureCheck = "valid" | "invalid" | "unsigned" | "unchecked";

export interface Delivery {
  /** The request path (with its query), e.g. `/callback` or `/sms/notify`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body as UTF-8 text. */
  body: string;
  /** `X-EthPOS-Event-Id`, the same on every retry of one event. */
  eventId: string | null;
  /** `X-EthPOS-Signature` as sent. */
  signature: string | null;
  verified: SignatureCheck;
  /** The order id of an order callback's body (`{"id", "status", …}`), else null. */
  order: number | null;
  /** When the body had arrived (ms since the epoch). */
  at: number;
  /**
   * The status the receiver answered with; undefined while it has not answered (slow), or when it
   * never did (timeout, or the sender gave up first). Only a 2xx counts as delivered.
   */
  answered: number | undefined;
  /** When it answered (ms since the epoch): later than `at` in slow mode. */
  answeredAt: number | undefined;
}

export interface ReceiverOptions {
  /** 127.0.0.1 unless given. */
  host?: string;
  /** 0 (a free port, kept across `down` and back) unless given. */
  port?: number;
  /** The path the URL names (`/callback` for the dev stack); callers may append their own instead. */
  path?: string;
  /** The secrets signatures are checked against, or a function that reads them (e.g. from the database). */
  secrets?: readonly string[] | (() => Promise<readonly string[]> | readonly string[]);
  mode?: ReceiverMode;
  /** Called with one line per callback (what it is, its event id, its signature check). */
  print?: (line: string) => void;
  /** How many deliveries to keep (the oldest go first); all of them unless given. */
  keep?: number;
}

export interface Receiver {
  /** `http://host:port` plus `path`. */
  url: string;
  port: number;
  /** Every POST received, in arrival order (the last `keep` of them). */
  deliveries: Delivery[];
  readonly mode: ReceiverMode;
  setMode(mode: ReceiverMode): Promise<void>;
  /** Waits until `predicate(deliveries)` holds (checked on each delivery and answer); throws after `timeoutMs`. */
  waitFor(predicate: (all: Delivery[]) => boolean, timeoutMs?: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

/** The most of a body the receiver reads; a callback body is far smaller. */
const MAX_BODY = 256 * 1024;

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const host = options.host ?? "127.0.0.1";
  const keep = options.keep ?? Infinity;
  const deliveries: Delivery[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  let mode: ReceiverMode = options.mode ?? "ok";
  let port = options.port ?? 0;
  let listening: Server | undefined;
  let closed = false;
  // Deliveries are recorded in arrival order even when checking one waits for the secrets.
  let recording: Promise<void> = Promise.resolve();

  const handler = createServer((req, res) => {
    if (req.method === "GET") {
      const order = new URL(req.url ?? "/", "http://receiver").searchParams.get("order");
      const list = order === null ? deliveries : deliveries.filter((d) => String(d.order) === order);
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ callbacks: list.map(asJson) }));
      return;
    }
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "GET, POST" }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks);
      const answerWith = mode; // the mode when the request arrived
      recording = recording.then(async () => {
        const delivery = await record(raw, req.url ?? "/", req.headers, at, options.secrets);
        deliveries.push(delivery);
        if (deliveries.length > keep) deliveries.shift();
        answer(res, delivery, answerWith);
        wake();
        if (options.print) options.print(describe(raw, delivery));
      });
    });
  });

  const answer = (res: ServerResponse, delivery: Delivery, how: ReceiverMode) => {
    const send = (status: number) => {
      if (res.destroyed || res.socket?.destroyed) return; // the sender gave up: not answered
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "OK" : "receiver fault");
      delivery.answered = status;
      delivery.answeredAt = Date.now();
      wake();
    };
    if (how === "timeout" || how === "down") return; // down: a request that arrived as the port closed
    if (how === "ok") send(200);
    else if (typeof how === "number") send(how);
    else setTimeout(() => send(200), how.slowMs).unref();
  };

  /** Listens on `port` (the one first given or found), retrying while it is briefly taken. */
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const attempt = (left: number) => {
        const onError = (error: Error) => {
          if (left > 0 && port !== 0) setTimeout(() => attempt(left - 1), 100);
          else reject(error);
        };
        handler.once("error", onError);
        handler.listen(port, host, () => {
          handler.off("error", onError);
          listening = handler;
          port = (handler.address() as AddressInfo).port;
          resolve();
        });
      };
      attempt(50);
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      const server = listening;
      listening = undefined;
      if (!server) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    });

  await listen();
  if (mode === "down") await stop();
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${options.path ?? ""}`,
    port,
    deliveries,
    get mode() {
      return mode;
    },
    async setMode(next) {
      if (closed) throw new Error("receiver: setMode after close");
      if (next === "down") await stop();
      else if (!listening) await listen();
      mode = next;
    },
    async waitFor(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(deliveries)) {
        if (Date.now() > deadline)
          throw new Error(
            `receiver: condition not met within ${timeoutMs} ms (${deliveries.length} received)`,
          );
        await new Promise<void>((resolve) => {
          const done = () => {
            waiters.delete(done);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(done, 100);
          waiters.add(done);
        });
      }
      return deliveries;
    },
    async close() {
      closed = true;
      await stop();
      await recording;
    },
  };
}

async function record(
  raw: Buffer,
  path: string,
  headers: IncomingHttpHeaders,
  at: number,
  secrets: ReceiverOptions["secrets"],
): Promise<Delivery> {
  const header = (name: string) => (typeof headers[name] === "string" ? (headers[name] as string) : null);
  const signature = header("x-ethpos-signature");
  const body = raw.toString("utf8");
  let order: number | null = null;
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    if (typeof json.id === "number" && json.status !== undefined) order = json.id;
  } catch {
    // not JSON: no order to file it under
  }
  return {
    path,
    headers,
    body,
    eventId: header("x-ethpos-event-id"),
    signature,
    verified: await check(signature, raw, secrets),
    order,
    at,
    answered: undefined,
    answeredAt: undefined,
  };
}

/** The server's own check (docs/callbacks.md), on the raw bytes; a secrets lookup that fails checks nothing. */
async function check(
  signature: string | null,
  raw: Buffer,
  secrets: ReceiverOptions["secrets"],
): Promise<SignatureCheck> {
  if (signature === null) return "unsigned";
  if (secrets === undefined) return "unchecked";
  let list: readonly string[];
  try {
    list = typeof secrets === "function" ? await secrets() : secrets;
  } catch {
    return "unchecked";
  }
  if (list.length === 0) return "unchecked";
  return verifySignature(signature, raw, list) ? "valid" : "invalid";
}

/** A delivery as GET answers it. */
function asJson(d: Delivery) {
  return {
    received_at: new Date(d.at).toISOString(),
    path: d.path,
    event_id: d.eventId,
    signature: d.signature,
    verified: d.verified,
    order: d.order,
    answered: d.answered ?? null,
    body: d.body,
  };
}

/** One line saying what a callback was and whether its signature held. */
function describe(raw: Buffer, d: Delivery): string {
  const check = {
    valid: "signature valid",
    invalid:
      "signature not valid for the receiver's secrets (orders made with an API key are signed with their merchant's secret)",
    unsigned: "unsigned",
    unchecked: "signature not checked (no secret to check it with)",
  }[d.verified];
  let what = `${raw.length} bytes`;
  try {
    const body = JSON.parse(d.body) as Record<string, unknown>;
    if (body.id !== undefined && body.status !== undefined) {
      what = `order ${String(body.id)} ${String(body.status)} (${String(body.confirmations ?? "?")} confirmations)`;
    } else if (body.txid !== undefined) {
      what = `EletroPay payment ${String(body.txid)} (${String(body.confirmations ?? "?")} confirmations)`;
    } else if (body.kind !== undefined || body.message !== undefined || body.type === "notification") {
      what = `notification ${d.body.slice(0, 160)}`;
    }
  } catch {
    // not JSON: the size is all there is to say
  }
  return `callback received: ${what}, event ${d.eventId ?? "?"}, ${check}`;
}
