import { notFound, tooManyRequests } from "../lib/errors.ts";
import { clientKey } from "../lib/ip.ts";
import type { OrderRow } from "../orders/serialize.ts";
import type { PayState } from "./pay-view.ts";

/**
 * The payment page's pushed updates (GET /pay/:id/events), shared: every open stream of one
 * order listens to one poller, which reads the order once per interval however many people
 * watch it, and stops when the last stream closes or the order reaches a final status. Polling
 * works the same on PostgreSQL and PGlite, and needs no connection of its own. Per process.
 */

const FINAL_STATUSES = new Set(["complete", "expired", "refunded"]);

export interface PayEventListener {
  /** A new state (the first at once, then on every change); `text` is its JSON. */
  state(state: PayState, text: string): void;
  /** No more states: the order is final, gone, or could not be read (the browser reconnects). */
  end(): void;
}

export interface PayEventHub {
  /**
   * Follows an order; resolves once its current state was sent to `listener`, with the function
   * that stops following. Throws a 404 for an unknown order.
   */
  subscribe(id: bigint, listener: PayEventListener): Promise<() => void>;
  /** Orders polled now (one poller each) and streams listening to them. */
  stats(): { pollers: number; listeners: number; polls: number };
  close(): void;
}

interface Watch {
  listeners: Set<PayEventListener>;
  last: { state: PayState; text: string } | undefined;
  /** The first read: resolves once `last` is set; rejects with a 404 for an unknown order. */
  ready: Promise<void>;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

export function createPayEventHub(deps: {
  /** Reads the order (one query). */
  order(id: bigint): Promise<OrderRow | undefined>;
  state(order: OrderRow): PayState;
  intervalMs: number;
  /** Where a failed read is reported. */
  warn?(error: unknown): void;
}): PayEventHub {
  const watches = new Map<bigint, Watch>();
  let polls = 0;

  function finish(id: bigint, watch: Watch) {
    if (watch.done) return;
    watch.done = true;
    clearTimeout(watch.timer);
    if (watches.get(id) === watch) watches.delete(id);
    for (const listener of watch.listeners) listener.end();
    watch.listeners.clear();
  }

  /** One read of the order; true while it should be read again. */
  async function poll(id: bigint, watch: Watch): Promise<boolean> {
    polls++;
    const order = await deps.order(id);
    if (!order) return false;
    const state = deps.state(order);
    const text = JSON.stringify(state);
    if (text !== watch.last?.text) {
      watch.last = { state, text };
      for (const listener of watch.listeners) listener.state(state, text);
    }
    return !FINAL_STATUSES.has(state.status);
  }

  function schedule(id: bigint, watch: Watch) {
    watch.timer = setTimeout(() => {
      poll(id, watch).then(
        (again) => {
          if (watch.done) return;
          if (again) schedule(id, watch);
          else finish(id, watch);
        },
        (error: unknown) => {
          deps.warn?.(error);
          finish(id, watch);
        },
      );
    }, deps.intervalMs);
    watch.timer.unref?.();
  }

  function start(id: bigint): Watch {
    const watch: Watch = {
      listeners: new Set(),
      last: undefined,
      ready: Promise.resolve(),
      timer: undefined,
      done: false,
    };
    watches.set(id, watch);
    watch.ready = poll(id, watch).then(
      (again) => {
        if (!watch.last) {
          finish(id, watch);
          throw notFound(`order ${id} was not found`, "order_not_found");
        }
        // A final order is answered from this read and not polled; later viewers read it anew.
        if (again) schedule(id, watch);
        else if (watches.get(id) === watch) watches.delete(id);
      },
      (error: unknown) => {
        finish(id, watch);
        throw error;
      },
    );
    return watch;
  }

  return {
    async subscribe(id, listener) {
      const watch = watches.get(id) ?? start(id);
      await watch.ready;
      const last = watch.last!;
      const final = FINAL_STATUSES.has(last.state.status);
      // Its last listener left while this one waited for the first read: follow with a new poller.
      if (watch.done && !final) return this.subscribe(id, listener);
      listener.state(last.state, last.text);
      if (final) {
        listener.end();
        return () => {};
      }
      watch.listeners.add(listener);
      return () => {
        watch.listeners.delete(listener);
        if (watch.listeners.size === 0) finish(id, watch);
      };
    },
    stats() {
      let listeners = 0;
      for (const watch of watches.values()) listeners += watch.listeners.size;
      return { pollers: watches.size, listeners, polls };
    },
    close() {
      for (const [id, watch] of [...watches]) finish(id, watch);
    },
  };
}

export interface StreamLimits {
  /**
   * Takes one stream slot for the client at `ip` (IPv6 counted per /64), or throws a 429 saying
   * which limit was reached. The returned function gives the slot back (once).
   */
  acquire(ip: string): () => void;
  open(): number;
}

/** How many event streams one client, and all clients together, may hold open at once. */
export function createStreamLimits(limits: { perClient: number; total: number }): StreamLimits {
  const byClient = new Map<string, number>();
  let open = 0;
  return {
    acquire(ip) {
      const key = clientKey(ip);
      const held = byClient.get(key) ?? 0;
      if (held >= limits.perClient) {
        throw tooManyRequests(
          `this client already has ${held} payment status streams open (the limit is ${limits.perClient} per address); ` +
            "close other payment pages, or poll GET /pay/:id/status instead",
          "too_many_streams",
        );
      }
      if (open >= limits.total) {
        throw tooManyRequests(
          `the server has ${open} payment status streams open (its limit); try again shortly, or poll GET /pay/:id/status`,
          "too_many_streams",
        );
      }
      byClient.set(key, held + 1);
      open++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        open--;
        const left = (byClient.get(key) ?? 1) - 1;
        if (left <= 0) byClient.delete(key);
        else byClient.set(key, left);
      };
    },
    open: () => open,
  };
}
