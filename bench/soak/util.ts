/** Small helpers of the soak: time, and waiting on a probe through faults. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => Date.now();

/**
 * Probes every 100 ms until the probe answers something other than undefined, and answers that.
 * A probe that throws (a fault in progress) is probed again. Throws after `timeoutMs`.
 */
export async function until<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // a fault in progress: probe again
    }
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
