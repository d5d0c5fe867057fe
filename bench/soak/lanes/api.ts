/** How the stream reaches the API, and which receiver its orders and subscriptions call back to. */
import { apiUrl, count, type SoakContext } from "../context.ts";
import type { Receiver } from "../../../test/support/receiver.ts";

/**
 * POSTs a JSON body to a random API process, then to each in turn until one answers 200 (the
 * others may be down or answering 503 during a fault): the parsed answer, or undefined.
 */
export async function postToAnyApi<T>(
  ctx: SoakContext,
  path: string,
  body: unknown,
  what: string,
  headers: Record<string, string> = {},
): Promise<T | undefined> {
  for (const m of [ctx.pick(ctx.apis), ...ctx.apis]) {
    try {
      const res = await fetch(`${apiUrl(m)}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      if (res.status === 200) return (await res.json()) as T;
      count(ctx, `${what} http ${res.status}`);
    } catch {
      count(ctx, `${what} unreachable`);
    }
  }
  return undefined;
}

/** The receiver whose turn it is. */
export function nextReceiver(ctx: SoakContext): Receiver {
  return ctx.receivers[ctx.callbackTurn++ % ctx.receivers.length] as Receiver;
}

/** An amount under $5, as the API takes it: "1.00" to "4.99". */
export function smallAmount(ctx: SoakContext): string {
  return `${ctx.between(1, 4)}.${String(ctx.between(0, 99)).padStart(2, "0")}`;
}
