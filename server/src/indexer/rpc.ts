import {
  BlockNotFoundError,
  HttpRequestError,
  LimitExceededRpcError,
  ResourceUnavailableRpcError,
  RpcRequestError,
  TimeoutError,
  WebSocketRequestError,
  InternalRpcError,
  UnknownRpcError,
} from "viem";

/**
 * An RPC failure worth retrying: the node is down, slow, overloaded or rate-limiting, or a block
 * it just reported is gone (a reorg shortened the chain while we read, or a load-balanced node
 * lags behind its peer).
 */
export function isRetryable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    if (
      current instanceof BlockNotFoundError ||
      current instanceof HttpRequestError ||
      current instanceof TimeoutError ||
      current instanceof WebSocketRequestError ||
      current instanceof LimitExceededRpcError ||
      current instanceof ResourceUnavailableRpcError ||
      current instanceof InternalRpcError ||
      current instanceof UnknownRpcError
    ) {
      return true;
    }
    if (current instanceof RpcRequestError && [429, -32005, -32603].includes(current.code)) return true;
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === "string" &&
      ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "UND_ERR_SOCKET"].includes(code)
    ) {
      return true;
    }
    if (
      current instanceof Error &&
      /fetch failed|socket hang up|ECONNREFUSED|ECONNRESET|timed? ?out/i.test(current.message)
    ) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** eth_getLogs refusals that mean "ask for fewer blocks". */
export function isRangeTooLarge(error: unknown): boolean {
  const text =
    error instanceof Error
      ? `${error.message} ${(error as { details?: string }).details ?? ""}`
      : String(error);
  return (
    error instanceof LimitExceededRpcError ||
    /block range|too many (results|logs)|query returned more than|limit exceeded|response size|exceed/i.test(
      text,
    )
  );
}

export class FatalIndexerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FatalIndexerError";
  }
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
