import type { EnvReader } from "./env.ts";

/**
 * The operator's SMS provider for the TXT Messaging plugin (docs/notifications.md). Unset: the
 * plugin sends its messages to the merchant's notify URL as signed webhooks, as before.
 * - `twilio`: Twilio's Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json, HTTP basic auth
 *   with the account SID and auth token, form fields To, From or MessagingServiceSid, Body).
 * - `http`: any SMS gateway, by a request template: SMS_HTTP_URL, SMS_HTTP_METHOD, SMS_HTTP_BODY and
 *   SMS_HTTP_HEADERS, where {to}, {text} and {from} are replaced (URL-encoded in the URL,
 *   JSON-escaped in a JSON body, form-encoded in a form body).
 */
export type SmsConfig = TwilioSmsConfig | HttpSmsConfig;

export interface TwilioSmsConfig {
  provider: "twilio";
  /** https://api.twilio.com; another base only for a regional edge or a test server. */
  apiUrl: string;
  accountSid: string;
  authToken: string;
  /** The sender: a Twilio number in E.164, or undefined when a messaging service picks it. */
  from: string | undefined;
  messagingServiceSid: string | undefined;
  timeoutMs: number;
}

export interface HttpSmsConfig {
  provider: "http";
  url: string;
  method: "POST" | "PUT" | "GET";
  /** The body template (none for GET). */
  body: string | undefined;
  contentType: string;
  headers: Record<string, string>;
  from: string | undefined;
  timeoutMs: number;
}

/**
 * Variables: SMS_PROVIDER (twilio or http), SMS_TIMEOUT_MS, SMS_FROM; TWILIO_ACCOUNT_SID,
 * TWILIO_AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID, TWILIO_API_URL; SMS_HTTP_URL, SMS_HTTP_METHOD,
 * SMS_HTTP_BODY, SMS_HTTP_CONTENT_TYPE, SMS_HTTP_HEADERS (a JSON object).
 */
export function readSmsConfig(r: EnvReader): SmsConfig | undefined {
  const provider = r.oneOf("SMS_PROVIDER", ["none", "twilio", "http"] as const, "none");
  if (provider === "none") return undefined;
  const timeoutMs = r.int("SMS_TIMEOUT_MS", 10_000, 100, 120_000);
  const from = r.optionalStr("SMS_FROM");
  if (from !== undefined && !/^\+[1-9][0-9]{6,14}$/.test(from) && !/^[A-Za-z0-9 ]{1,11}$/.test(from)) {
    r.problem(
      `SMS_FROM must be a phone number in E.164 (+15551234567) or an alphanumeric sender id of at most 11 characters, got "${from.slice(0, 40)}"`,
      "SMS_FROM",
    );
  }
  if (provider === "twilio") {
    const accountSid = r.required(
      "TWILIO_ACCOUNT_SID",
      "when SMS_PROVIDER=twilio: your account SID (AC…), from the Twilio console",
    );
    const authToken = r.required(
      "TWILIO_AUTH_TOKEN",
      "when SMS_PROVIDER=twilio: the account's auth token, from the Twilio console",
    );
    const messagingServiceSid = r.optionalStr("TWILIO_MESSAGING_SERVICE_SID");
    if (accountSid !== undefined && !/^AC[0-9a-fA-F]{32}$/.test(accountSid)) {
      r.problem(
        "TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal digits, as the Twilio console shows it",
        "TWILIO_ACCOUNT_SID",
      );
    }
    if (from === undefined && messagingServiceSid === undefined) {
      r.problem(
        "SMS_PROVIDER=twilio needs a sender: set SMS_FROM to one of your Twilio numbers (E.164) or TWILIO_MESSAGING_SERVICE_SID (MG…)",
        "SMS_FROM",
      );
    }
    return {
      provider,
      apiUrl: (r.url("TWILIO_API_URL", ["https:", "http:"]) ?? "https://api.twilio.com").replace(/\/+$/, ""),
      accountSid: accountSid ?? "",
      authToken: authToken ?? "",
      from,
      messagingServiceSid,
      timeoutMs,
    };
  }
  const url = r.url("SMS_HTTP_URL", ["https:", "http:"]);
  if (url === undefined && r.raw("SMS_HTTP_URL") === undefined) {
    r.required(
      "SMS_HTTP_URL",
      "when SMS_PROVIDER=http: the gateway's URL; {to}, {text} and {from} are replaced",
    );
  }
  const method = r.oneOf("SMS_HTTP_METHOD", ["POST", "PUT", "GET"] as const, "POST");
  const body = r.optionalStr("SMS_HTTP_BODY");
  if (method !== "GET" && body === undefined) {
    r.required(
      "SMS_HTTP_BODY",
      `when SMS_HTTP_METHOD=${method}: the body template, e.g. {"to":"{to}","message":"{text}"}`,
    );
  }
  let headers: Record<string, string> = {};
  const rawHeaders = r.optionalStr("SMS_HTTP_HEADERS");
  if (rawHeaders !== undefined) {
    try {
      const parsed = JSON.parse(rawHeaders) as unknown;
      if (
        !parsed ||
        typeof parsed !== "object" ||
        Array.isArray(parsed) ||
        !Object.values(parsed).every((v) => typeof v === "string")
      ) {
        throw new Error("not an object of strings");
      }
      headers = parsed as Record<string, string>;
    } catch {
      r.problem(
        'SMS_HTTP_HEADERS must be a JSON object of strings, e.g. {"Authorization":"Bearer …"}',
        "SMS_HTTP_HEADERS",
      );
    }
  }
  return {
    provider,
    url: url ?? "",
    method,
    body: method === "GET" ? undefined : body,
    contentType: r.str("SMS_HTTP_CONTENT_TYPE", "application/json"),
    headers,
    from,
    timeoutMs,
  };
}
