/**
 * Domain errors carry an HTTP status and a stable machine code. The API's one error handler
 * turns them into `{"error":{"code","message"}}`; anything else becomes a bare 500.
 */
export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Record<string, string> | undefined;

  constructor(statusCode: number, code: string, message: string, headers?: Record<string, string>) {
    super(message);
    this.name = "AppError";
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string, code = "bad_request") => new AppError(400, code, message);
export const unauthorized = (message = "A valid API key is required in the Authorization header.") =>
  new AppError(401, "unauthorized", message);
export const forbidden = (message: string, code = "forbidden") => new AppError(403, code, message);
export const notFound = (message: string, code = "not_found") => new AppError(404, code, message);
export const conflict = (message: string, code = "conflict") => new AppError(409, code, message);
export const tooManyRequests = (message: string, code = "too_many_requests") =>
  new AppError(429, code, message);
export const unavailable = (message: string, code = "service_unavailable") =>
  new AppError(503, code, message, { "retry-after": "30" });

/** Configuration errors stop start-up with one line that names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
