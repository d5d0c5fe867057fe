/**
 * A fixed-window request counter per key (a client address, a token's hash): at most `max` per
 * `windowMs`. In memory and per process; with N processes a key gets at most N × max per window.
 */
export interface WindowLimiter {
  /** Counts one request for `key`: 0 when it is allowed, else the milliseconds until it may retry. */
  take(key: string): number;
}

export function createWindowLimiter(options: {
  max: number;
  windowMs: number;
  now?: () => number;
  /** Keys tracked at once; the oldest windows are dropped beyond it (memory bound). */
  maxKeys?: number;
}): WindowLimiter {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    take(key) {
      const t = now();
      let entry = windows.get(key);
      if (entry && entry.resetAt <= t) {
        windows.delete(key);
        entry = undefined;
      }
      if (!entry) {
        if (windows.size >= maxKeys) {
          for (const [k, v] of windows) {
            if (v.resetAt <= t || windows.size >= maxKeys) windows.delete(k);
            else break;
          }
        }
        windows.set(key, { count: 1, resetAt: t + options.windowMs });
        return 0;
      }
      if (entry.count >= options.max) return entry.resetAt - t;
      entry.count++;
      return 0;
    },
  };
}
