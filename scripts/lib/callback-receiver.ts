/**
 * The dev callback receiver `npm start` runs on 127.0.0.1:DEV_CALLBACK_PORT (default 3002): a
 * target for `callback` URLs while trying the API by hand (the README's curl example uses it). It
 * answers 200 to every POST (any path), checks the `X-EthPOS-Signature` against the system secret
 * (what orders made without an API key are signed with) and the EletroPay callback secret, and
 * prints one line per callback. It keeps the last RECENT callbacks, and a GET answers them as JSON
 * (`?order=<id>`: that order's), which is how `npm run demo` shows the callbacks of its order.
 */
import { createServer, type Server } from "node:http";
import { verifySignature } from "../../server/src/callbacks/signing.ts";

export interface CallbackReceiver {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 256 * 1024;
/** How many callbacks the receiver keeps for GET. */
const RECENT = 100;

/** A callback as the receiver got it (GET answers a list of these). */
export interface ReceivedCallback {
  received_at: string;
  path: string;
  event_id: string | null;
  signature: string | null;
  /** The order id of an order callback's body, else null. */
  order: number | null;
  body: string;
}

export async function startCallbackReceiver(options: {
  host: string;
  port: number;
  /** The secrets it can check: the system one (CALLBACK_SECRET, or the one generated in `meta`), EletroPay's. */
  secrets: () => Promise<string[]>;
  print: (line: string) => void;
}): Promise<CallbackReceiver> {
  const recent: ReceivedCallback[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === "GET") {
      const order = new URL(req.url ?? "/", "http://receiver").searchParams.get("order");
      const list = order === null ? recent : recent.filter((c) => String(c.order) === order);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ callbacks: list }));
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
      // Answer first: the receiver must never make a delivery slow or fail.
      res.writeHead(200, { "content-type": "text/plain" }).end("OK");
      const raw = Buffer.concat(chunks);
      recent.push(received(raw, req.url ?? "/", req.headers));
      if (recent.length > RECENT) recent.shift();
      void describe(raw, req.headers, options.secrets).then(options.print, (error: Error) =>
        options.print(`callback ${req.url}: ${error.message}`),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/callback`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function received(
  raw: Buffer,
  path: string,
  headers: Record<string, string | string[] | undefined>,
): ReceivedCallback {
  const header = (name: string) => (typeof headers[name] === "string" ? (headers[name] as string) : null);
  let order: number | null = null;
  const body = raw.toString("utf8");
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    if (typeof json.id === "number" && json.status !== undefined) order = json.id;
  } catch {
    // not JSON: no order to file it under
  }
  return {
    received_at: new Date().toISOString(),
    path,
    event_id: header("x-ethpos-event-id"),
    signature: header("x-ethpos-signature"),
    order,
    body,
  };
}

async function describe(
  raw: Buffer,
  headers: Record<string, string | string[] | undefined>,
  secrets: () => Promise<string[]>,
): Promise<string> {
  const header = headers["x-ethpos-signature"];
  const signature = typeof header === "string" ? header : undefined;
  const valid = signature ? verifySignature(signature, raw, await secrets()) : false;
  const check = !signature
    ? "unsigned"
    : valid
      ? "signature valid"
      : "signature not checked: not the system secret (orders made with an API key are signed with their merchant's secret)";
  let what = `${raw.length} bytes`;
  try {
    const body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    if (body.id !== undefined && body.status !== undefined) {
      what = `order ${String(body.id)} ${String(body.status)} (${String(body.confirmations ?? "?")} confirmations)`;
    } else if (body.txid !== undefined) {
      what = `EletroPay payment ${String(body.txid)} (${String(body.confirmations ?? "?")} confirmations)`;
    } else if (body.kind !== undefined || body.message !== undefined) {
      what = `notification ${JSON.stringify(body).slice(0, 160)}`;
    }
  } catch {
    // not JSON: the size is all there is to say
  }
  const event = headers["x-ethpos-event-id"];
  return `callback received: ${what}, event ${typeof event === "string" ? event : "?"}, ${check}`;
}
