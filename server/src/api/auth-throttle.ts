/**
 * Failed authentications per client address (finding 3 in docs/security.md). Every 401 answered
 * to a request that carried an Authorization header counts against the client's address; once an
 * address reaches `maxFailures` within `windowMs`, its requests that carry credentials answer 429
 * without being checked until the window ends. Requests without credentials are not affected, and
 * other addresses keep their own counts. Per process: with N API processes an address gets at
 * most N × maxFailures guesses per window.
 */
export interface AuthThrottle {
  /** Milliseconds until `address` may try again, or 0 when it may try now. */
  retryAfterMs(address: string): number;
  /** Records one failed authentication from `address`. */
  failed(address: string): void;
}

export function createAuthThrottle(options: {
  maxFailures: number;
  windowMs: number;
  now?: () => number;
  /** Addresses tracked at once; the oldest windows are dropped beyond it (memory bound). */
  maxAddresses?: number;
}): AuthThrottle {
  const now = options.now ?? Date.now;
  const maxAddresses = options.maxAddresses ?? 100_000;
  const windows = new Map<string, { failures: number; resetAt: number }>();

  const current = (address: string) => {
    const entry = windows.get(address);
    if (entry && entry.resetAt <= now()) {
      windows.delete(address);
      return undefined;
    }
    return entry;
  };

  return {
    retryAfterMs(address) {
      const entry = current(address);
      return entry && entry.failures >= options.maxFailures ? entry.resetAt - now() : 0;
    },
    failed(address) {
      const entry = current(address);
      if (entry) {
        entry.failures++;
        return;
      }
      if (windows.size >= maxAddresses) {
        for (const [key, value] of windows) {
          if (value.resetAt <= now() || windows.size >= maxAddresses) windows.delete(key);
          else break;
        }
      }
      windows.set(address, { failures: 1, resetAt: now() + options.windowMs });
    },
  };
}
