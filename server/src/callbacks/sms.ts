import type { HttpSmsConfig, SmsConfig, TwilioSmsConfig } from "../config/sms.ts";
import { firstLine } from "../lib/errors.ts";

/**
 * Text messages through the operator's SMS provider (config/sms.ts). The callbacks outbox holds
 * each message (its URL is `sms:<E.164 number>`), and the callback worker hands it to `send`, so a
 * text is queued in the transaction of the change it reports, retried with backoff, and counted
 * against the merchant's TXT Messaging limit like every notification.
 */
export interface SmsMessage {
  /** E.164, e.g. +15551234567. */
  to: string;
  text: string;
}

export type SmsResult =
  | { status: "sent"; statusCode: number; id: string | null; excerpt: string | null }
  | {
      status: "retry";
      statusCode: number | null;
      error: string;
      retryAfterMs?: number;
      excerpt: string | null;
    }
  | { status: "refused"; statusCode: number | null; error: string; excerpt: string | null };

export interface SmsProvider {
  readonly name: string;
  send(message: SmsMessage): Promise<SmsResult>;
}

/** An outbox row whose URL is this prefix and a phone number is a text message, not a webhook. */
export const SMS_URL_PREFIX = "sms:";

const EXCERPT_CHARS = 512;

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

async function request(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  fetchImpl: typeof fetch,
): Promise<{ status: number; headers: Headers; text: string } | { error: string }> {
  try {
    const response = await fetchImpl(url, {
      ...init,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "error",
    });
    return {
      status: response.status,
      headers: response.headers,
      text: (await response.text()).slice(0, 64 * 1024),
    };
  } catch (error) {
    const name = (error as Error | undefined)?.name;
    return { error: name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : firstLine(error) };
  }
}

/**
 * Twilio's Messages API, by its documented REST call
 * (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource): a form
 * POST with HTTP basic auth; 201 with the message's `sid`; errors as
 * `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
 * - 429 (error 20429) and 5xx: tried again later, after Retry-After when given.
 * - 401 (error 20003): tried again later too. It is the operator's configuration, and the message
 *   goes out once the credentials are fixed.
 * - Any other 4xx is about this message (21211 an invalid To number, 21610 a recipient who sent
 *   STOP, 21408 a region not enabled): never tried again, and the error is kept in the delivery log.
 */
export function twilioSms(config: TwilioSmsConfig, fetchImpl: typeof fetch = fetch): SmsProvider {
  const url = `${config.apiUrl}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Messages.json`;
  const auth = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString("base64")}`;
  return {
    name: "twilio",
    async send(message) {
      const form = new URLSearchParams({ To: message.to, Body: message.text });
      if (config.messagingServiceSid) form.set("MessagingServiceSid", config.messagingServiceSid);
      else if (config.from) form.set("From", config.from);
      const answer = await request(
        url,
        {
          method: "POST",
          headers: {
            authorization: auth,
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
          },
          body: form.toString(),
        },
        config.timeoutMs,
        fetchImpl,
      );
      if ("error" in answer)
        return { status: "retry", statusCode: null, error: `Twilio: ${answer.error}`, excerpt: null };
      const excerpt = answer.text.slice(0, EXCERPT_CHARS) || null;
      let json: { sid?: unknown; code?: unknown; message?: unknown } = {};
      try {
        json = JSON.parse(answer.text) as typeof json;
      } catch {
        // A proxy's HTML page: the status code says enough.
      }
      if (answer.status >= 200 && answer.status < 300) {
        return {
          status: "sent",
          statusCode: answer.status,
          id: typeof json.sid === "string" ? json.sid : null,
          excerpt,
        };
      }
      const detail =
        typeof json.code === "number" || typeof json.message === "string"
          ? `Twilio error ${String(json.code ?? "")}: ${String(json.message ?? "")}`.trim()
          : `Twilio answered HTTP ${answer.status}`;
      if (answer.status === 429 || answer.status >= 500 || answer.status === 401) {
        const after = retryAfterMs(answer.headers.get("retry-after"));
        return {
          status: "retry",
          statusCode: answer.status,
          error:
            answer.status === 401 ? `${detail} (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)` : detail,
          ...(after === undefined ? {} : { retryAfterMs: after }),
          excerpt,
        };
      }
      return { status: "refused", statusCode: answer.status, error: `${detail} (not retried)`, excerpt };
    },
  };
}

/** Replaces {to}, {text} and {from} in a template, each value passed through `encode`. */
function fill(template: string, values: Record<string, string>, encode: (value: string) => string): string {
  return template.replace(/\{(to|text|from)\}/g, (_, name: string) => encode(values[name] ?? ""));
}

/** A JSON string's inside: the template supplies the quotes. */
const jsonInside = (value: string) => JSON.stringify(value).slice(1, -1);

/**
 * Any SMS gateway with an HTTP API, by a request template. 2xx is sent; 408, 429 and 5xx are
 * tried again later (after Retry-After when given); any other answer is refused and not retried.
 */
export function httpTemplateSms(config: HttpSmsConfig, fetchImpl: typeof fetch = fetch): SmsProvider {
  const form = config.contentType.startsWith("application/x-www-form-urlencoded");
  const json = config.contentType.includes("json");
  return {
    name: "http",
    async send(message) {
      const values = { to: message.to, text: message.text, from: config.from ?? "" };
      const url = fill(config.url, values, encodeURIComponent);
      const body =
        config.body === undefined
          ? undefined
          : fill(config.body, values, form ? encodeURIComponent : json ? jsonInside : (v) => v);
      const answer = await request(
        url,
        {
          method: config.method,
          headers: {
            ...(body === undefined ? {} : { "content-type": config.contentType }),
            ...config.headers,
          },
          ...(body === undefined ? {} : { body }),
        },
        config.timeoutMs,
        fetchImpl,
      );
      const host = new URL(config.url.replace(/\{(to|text|from)\}/g, "")).host;
      if ("error" in answer)
        return {
          status: "retry",
          statusCode: null,
          error: `SMS gateway ${host}: ${answer.error}`,
          excerpt: null,
        };
      const excerpt = answer.text.slice(0, EXCERPT_CHARS) || null;
      if (answer.status >= 200 && answer.status < 300)
        return { status: "sent", statusCode: answer.status, id: null, excerpt };
      const error = `SMS gateway ${host} answered HTTP ${answer.status}`;
      if (answer.status === 408 || answer.status === 429 || answer.status >= 500) {
        const after = retryAfterMs(answer.headers.get("retry-after"));
        return {
          status: "retry",
          statusCode: answer.status,
          error,
          ...(after === undefined ? {} : { retryAfterMs: after }),
          excerpt,
        };
      }
      return { status: "refused", statusCode: answer.status, error: `${error} (not retried)`, excerpt };
    },
  };
}

export function createSmsProvider(config: SmsConfig, fetchImpl: typeof fetch = fetch): SmsProvider {
  return config.provider === "twilio" ? twilioSms(config, fetchImpl) : httpTemplateSms(config, fetchImpl);
}
