import { createHmac, timingSafeEqual } from "node:crypto";

/** Header that carries the signature of every callback. */
export const SIGNATURE_HEADER = "X-EthPOS-Signature";
/** Header that carries the event id; the same on every retry of one event. */
export const EVENT_ID_HEADER = "X-EthPOS-Event-Id";
/** Receivers should reject signatures older (or newer) than this. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** hex(HMAC-SHA256(secret, "<t>.<raw body>")): the `v1` scheme. */
function computeV1(secret: string, timestamp: number, body: string | Uint8Array): string {
  const hmac = createHmac("sha256", secret);
  hmac.update(`${timestamp}.`);
  hmac.update(body);
  return hmac.digest("hex");
}

/**
 * Builds the `X-EthPOS-Signature` value: `t=<unix seconds>,v1=<hex>[,v1=<hex>]`.
 * `secrets` lists the current secret first; during a rotation the previous one follows and a
 * second `v1` is sent, so receivers holding either secret accept the callback.
 */
export function signatureHeader(
  secrets: readonly string[],
  body: string | Uint8Array,
  timestamp: number = Math.floor(Date.now() / 1000),
): string {
  if (secrets.length === 0) throw new Error("signatureHeader: at least one secret is required");
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new Error("signatureHeader: bad timestamp");
  const parts = [`t=${timestamp}`];
  for (const secret of secrets) parts.push(`v1=${computeV1(secret, timestamp, body)}`);
  return parts.join(",");
}

interface ParsedSignature {
  timestamp: number;
  v1: string[];
}

/** Parses a signature header; returns undefined when it is malformed. Unknown schemes are ignored. */
function parseSignatureHeader(header: string): ParsedSignature | undefined {
  let timestamp: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (key === "v1") {
      if (/^[0-9a-f]{64}$/.test(value)) v1.push(value);
    }
  }
  if (timestamp === undefined || v1.length === 0) return undefined;
  return { timestamp, v1 };
}

/**
 * The reference check a receiver runs (docs/callbacks.md shows the same code standalone):
 * the timestamp must be within `toleranceSec` of `now` (unix seconds), and at least one `v1`
 * must equal HMAC-SHA256(secret, "<t>.<raw body>") for at least one of the receiver's secrets.
 * `body` must be the raw request bytes, not re-serialized JSON.
 */
export function verifySignature(
  header: string | undefined,
  body: string | Uint8Array,
  secrets: readonly string[],
  toleranceSec: number = DEFAULT_TOLERANCE_SECONDS,
  now: number = Math.floor(Date.now() / 1000),
): boolean {
  if (!header) return false;
  const parsed = parseSignatureHeader(header);
  if (!parsed) return false;
  if (Math.abs(now - parsed.timestamp) > toleranceSec) return false;
  for (const secret of secrets) {
    const expected = Buffer.from(computeV1(secret, parsed.timestamp, body), "hex");
    for (const candidate of parsed.v1) {
      if (timingSafeEqual(expected, Buffer.from(candidate, "hex"))) return true;
    }
  }
  return false;
}
