/**
 * A small JSON-RPC 1.0 client for the Bitcoin Core family (bitcoind, litecoind, dashd).
 *
 * - Credentials come from the URL (`http://user:pass@127.0.0.1:9332/wallet/eletropay`) and are
 *   sent as HTTP Basic auth; they never appear in error messages or logs.
 * - Numbers with a fraction or exponent are returned as their exact source text (a string), so
 *   amounts such as `0.00028443` never pass through a float. Integers stay numbers.
 * - At most `maxInFlight` calls run at once, because Core rejects calls beyond its small
 *   `-rpcworkqueue` (16 by default) with HTTP 503.
 */

/** The node answered with a JSON-RPC error (bad parameters, unknown wallet…). Not retryable as is. */
export class RpcError extends Error {
  readonly code: number;
  readonly method: string;
  constructor(method: string, code: number, message: string) {
    super(`${method}: ${message} (code ${code})`);
    this.name = "RpcError";
    this.code = code;
    this.method = method;
  }
}

/** The node could not be reached, timed out or was overloaded: retry with backoff. */
export class RpcTransportError extends Error {
  readonly method: string;
  constructor(method: string, message: string, options?: { cause?: unknown }) {
    super(`${method}: ${message}`, options);
    this.name = "RpcTransportError";
    this.method = method;
  }
}

/** The node refused the credentials: a configuration error, not retryable. */
export class RpcAuthError extends Error {
  constructor(url: string) {
    super(`RPC authentication failed at ${url}: check the user and password in the RPC URL`);
    this.name = "RpcAuthError";
  }
}

/** Well-known Bitcoin Core RPC error codes used by the adapter. */
export const RPC_INVALID_ADDRESS_OR_KEY = -5;
export const RPC_WALLET_NOT_FOUND = -18;
export const RPC_WALLET_ALREADY_LOADED = -35;

export interface RpcClient {
  /** The URL without credentials, safe to log. */
  readonly safeUrl: string;
  call<T>(method: string, params?: readonly unknown[]): Promise<T>;
  /** A client for another path on the same node (e.g. the node root instead of a wallet). */
  withPath(path: string): RpcClient;
}

export interface RpcOptions {
  timeoutMs?: number;
  maxInFlight?: number;
  /** Injected transport, for tests that replay recorded responses. */
  fetch?: typeof fetch;
}

/** Parses JSON keeping non-integer numbers as exact decimal strings. */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text, function (
    this: unknown,
    _key: string,
    value: unknown,
    context?: { source?: string },
  ) {
    if (typeof value === "number" && context?.source !== undefined && /[.eE]/.test(context.source)) {
      return context.source;
    }
    return value;
  } as (key: string, value: unknown) => unknown);
}

export function createRpcClient(url: string, options: RpcOptions = {}): RpcClient {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`RPC URL must be http(s): ${parsed.protocol}`);
  }
  const auth =
    parsed.username || parsed.password
      ? "Basic " +
        Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString(
          "base64",
        )
      : undefined;
  parsed.username = "";
  parsed.password = "";
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxInFlight = options.maxInFlight ?? 4;
  const doFetch = options.fetch ?? fetch;

  let inFlight = 0;
  const waiting: Array<() => void> = [];
  async function acquire(): Promise<void> {
    if (inFlight < maxInFlight) {
      inFlight++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  function release(): void {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  }

  function build(target: URL): RpcClient {
    const endpoint = target.toString();
    let nextId = 0;
    return {
      safeUrl: endpoint,
      withPath(path: string) {
        const other = new URL(target);
        other.pathname = path;
        return build(other);
      },
      async call<T>(method: string, params: readonly unknown[] = []): Promise<T> {
        await acquire();
        try {
          let response: Response;
          try {
            response = await doFetch(endpoint, {
              method: "POST",
              headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
              body: JSON.stringify({ jsonrpc: "1.0", id: ++nextId, method, params }),
              signal: AbortSignal.timeout(timeoutMs),
            });
          } catch (error) {
            const name = (error as Error).name;
            const why =
              name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : (error as Error).message;
            throw new RpcTransportError(method, `${why} (${endpoint})`, { cause: error });
          }
          if (response.status === 401 || response.status === 403) throw new RpcAuthError(endpoint);
          const text = await response.text().catch(() => "");
          let body: { result?: unknown; error?: { code: number; message: string } | null } | undefined;
          try {
            body = text ? (parseJsonExact(text) as typeof body) : undefined;
          } catch {
            body = undefined;
          }
          // Core answers RPC errors with HTTP 500 (or 404 for unknown methods/wallets) and a JSON body.
          if (body?.error) throw new RpcError(method, body.error.code, body.error.message);
          if (!response.ok || !body) {
            throw new RpcTransportError(
              method,
              `HTTP ${response.status} ${text.slice(0, 200)} (${endpoint})`,
            );
          }
          return body.result as T;
        } finally {
          release();
        }
      },
    };
  }
  return build(parsed);
}
