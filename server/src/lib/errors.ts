/**
 * What went wrong, in domain terms. The HTTP layer (server/src/api/errors.ts) maps each kind to
 * a status; domain code never names an HTTP status.
 * - invalid: the input is wrong; unauthorized: no or a bad credential; forbidden: not allowed;
 * - not_found: no such thing (or not yours); conflict: the current state forbids it;
 * - unprocessable: well-formed, but it contradicts an earlier request (an Idempotency-Key reused);
 * - gone: it existed and is closed for good (a cancelled subscription's QR code);
 * - limit: a quota or rate is used up; unavailable: a dependency is down, try again later.
 */
export type ErrorKind =
  | "invalid"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unprocessable"
  | "gone"
  | "limit"
  | "unavailable";

/** A domain error with a stable machine code and a message that says what to fix. */
export class DomainError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;

  constructor(kind: ErrorKind, code: string, message: string) {
    super(message);
    this.name = "DomainError";
    this.kind = kind;
    this.code = code;
  }
}

export const badRequest = (message: string, code = "bad_request") =>
  new DomainError("invalid", code, message);
export const unauthorized = (message = "A valid API key is required in the Authorization header.") =>
  new DomainError("unauthorized", "unauthorized", message);
export const forbidden = (message: string, code = "forbidden") => new DomainError("forbidden", code, message);
export const notFound = (message: string, code = "not_found") => new DomainError("not_found", code, message);
export const conflict = (message: string, code = "conflict") => new DomainError("conflict", code, message);
export const unprocessable = (message: string, code: string) =>
  new DomainError("unprocessable", code, message);
export const gone = (message: string, code: string) => new DomainError("gone", code, message);
export const tooManyRequests = (message: string, code = "too_many_requests") =>
  new DomainError("limit", code, message);
export const unavailable = (message: string, code = "service_unavailable") =>
  new DomainError("unavailable", code, message);

/** Configuration errors stop start-up with one line that names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** An error's first message line (for logs and stored last errors). */
export const firstLine = (error: unknown): string =>
  ((error as Error | null | undefined)?.message ?? String(error)).split("\n")[0] as string;
