import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local server that speaks Twilio's Messages API as documented
 * (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource and
 * https://www.twilio.com/docs/api/errors): `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
 * with HTTP basic auth (account SID : auth token) and a form body (To, From or
 * MessagingServiceSid, Body). It answers 201 with the message resource, or Twilio's error body
 * `{"code","message","more_info","status"}`:
 * - 401, code 20003, for wrong credentials;
 * - 400, code 21211, for a To that is not E.164; 21610 for a number that has sent STOP
 *   (`unsubscribed`); 21602 for an empty Body;
 * - 429, code 20429, for the next `tooManyRequests` requests, with Retry-After when `retryAfter`
 *   is set;
 * - 500 for the next `serverErrors` requests.
 * It also takes any other path as a generic SMS gateway and records what it was sent.
 */
export interface SmsGateway {
  url: string;
  accountSid: string;
  authToken: string;
  /** Messages Twilio accepted, in order. */
  sent: { sid: string; to: string; from: string | null; service: string | null; body: string }[];
  /** Every request, as received. */
  requests: { method: string; path: string; headers: IncomingMessage["headers"]; body: string }[];
  /** Numbers that have replied STOP. */
  unsubscribed: Set<string>;
  tooManyRequests: number;
  retryAfter: string | null;
  serverErrors: number;
  close(): Promise<void>;
}

export async function startSmsGateway(): Promise<SmsGateway> {
  const accountSid = `AC${randomBytes(16).toString("hex")}`;
  const authToken = randomBytes(16).toString("hex");
  const gateway: Omit<SmsGateway, "url" | "close"> = {
    accountSid,
    authToken,
    sent: [],
    requests: [],
    unsubscribed: new Set(),
    tooManyRequests: 0,
    retryAfter: null,
    serverErrors: 0,
  };
  const error = (status: number, code: number, message: string) => ({
    status,
    body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "/";
      gateway.requests.push({ method: req.method ?? "", path, headers: req.headers, body });
      const answer = (status: number, json: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(json));
      };
      const twilio = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
      if (!twilio) return answer(200, { ok: true });
      if (gateway.serverErrors > 0) {
        gateway.serverErrors--;
        return answer(500, error(500, 20500, "Internal Server Error").body);
      }
      if (gateway.tooManyRequests > 0) {
        gateway.tooManyRequests--;
        const e = error(429, 20429, "Too Many Requests");
        return answer(e.status, e.body, gateway.retryAfter ? { "retry-after": gateway.retryAfter } : {});
      }
      const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;
      if (req.method !== "POST" || twilio[1] !== accountSid || req.headers.authorization !== expected) {
        const e = error(401, 20003, "Authenticate");
        return answer(e.status, e.body);
      }
      const form = new URLSearchParams(body);
      const to = form.get("To") ?? "";
      const text = form.get("Body") ?? "";
      if (!/^\+[1-9][0-9]{6,14}$/.test(to)) {
        const e = error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
        return answer(e.status, e.body);
      }
      if (gateway.unsubscribed.has(to)) {
        const e = error(400, 21610, "Attempt to send to unsubscribed recipient");
        return answer(e.status, e.body);
      }
      if (text === "") {
        const e = error(400, 21602, "Message body is required.");
        return answer(e.status, e.body);
      }
      const sid = `SM${randomBytes(16).toString("hex")}`;
      const from = form.get("From");
      const service = form.get("MessagingServiceSid");
      gateway.sent.push({ sid, to, from, service, body: text });
      const now = new Date().toUTCString();
      answer(201, {
        account_sid: accountSid,
        api_version: "2010-04-01",
        body: text,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: "outbound-api",
        error_code: null,
        error_message: null,
        from,
        messaging_service_sid: service,
        num_media: "0",
        num_segments: "1",
        price: null,
        price_unit: "USD",
        sid,
        status: "queued",
        to,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(gateway, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
