/**
 * A value read from a remote source, kept for a short while: reads within `freshMs` of the last
 * answer share it (and concurrent reads share one request); when a read fails, the last answer is
 * served instead as long as it is younger than `graceMs`. So a burst of refusals by the source
 * (HTTP 429 from an RPC provider) does not fail what only needs a recent value.
 */
export function recentValue<T>(
  read: () => Promise<T>,
  options: {
    freshMs: number;
    graceMs: number;
    /**
     * A read still unanswered after this long (a source that retries through its refusals) is not
     * waited for when an answer younger than `graceMs` exists: that one is served meanwhile.
     */
    patienceMs?: number;
    now?: () => number;
  },
): { get(): Promise<T>; last(): { value: T; at: number } | undefined } {
  const now = options.now ?? Date.now;
  let last: { value: T; at: number } | undefined;
  let inFlight: Promise<T> | undefined;
  return {
    async get() {
      if (last && now() - last.at < options.freshMs) return last.value;
      inFlight ??= read()
        .then((value) => {
          last = { value, at: now() };
          return value;
        })
        .finally(() => {
          inFlight = undefined;
        });
      const pending = inFlight;
      try {
        const patience = options.patienceMs;
        if (patience === undefined || !last) return await pending;
        let timer: NodeJS.Timeout | undefined;
        const late = Symbol("late");
        const first = await Promise.race([
          pending,
          new Promise<typeof late>((resolve) => {
            timer = setTimeout(() => resolve(late), patience);
          }),
        ]).finally(() => clearTimeout(timer));
        if (first !== late) return first;
        pending.catch(() => {}); // finishes in the background; its answer is kept
        if (last && now() - last.at < options.graceMs) return last.value;
        return await pending;
      } catch (error) {
        if (last && now() - last.at < options.graceMs) return last.value;
        throw error;
      }
    },
    last: () => last,
  };
}
