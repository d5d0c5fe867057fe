import { insertCallback } from "../callbacks/outbox.ts";
import type { Db, Queryable } from "../db/types.ts";
import { formatCoinAmount, type PaymentObservation, type UtxoChainAdapter } from "../utxo/adapter.ts";
import { effectiveConfirmations } from "../utxo/instantsend.ts";
import { UTXO_CURRENCIES, type UtxoCurrency } from "../utxo/networks.ts";
import { RpcAuthError } from "../utxo/rpc.ts";
import { callbackUrlFor, type EletroPayConfig } from "../config/eletropay.ts";
import { silentLogger, type EletroPayService, type Logger } from "./service.ts";

export const ELETROPAY_CALLBACK_KIND = "eletropay.payment";

/** The exact callback text: amount as an exact decimal JSON number, keys in the spec's order. */
export function eletropayCallbackBody(
  p: {
    amount: bigint;
    confirmations: number;
    address: string;
    txid: string;
  },
  /** Decimals of the amount's unit: 8 for DASH/LTC/BTC, 18 for ETH, the token's for a token. */
  decimals = 8,
): string {
  return (
    `{"amount":${formatCoinAmount(p.amount, decimals)},"confirmations":${p.confirmations},` +
    `"address":${JSON.stringify(p.address)},"txid":${JSON.stringify(p.txid)}}`
  );
}

export interface PollSummary {
  currency: UtxoCurrency;
  tipHeight: number;
  observed: number;
  callbacks: number;
  vanished: number;
  imported: number;
}

export interface EletroPayWatcher {
  /** One poll of one currency: import pending addresses, read changes, commit payments + callbacks + cursor. */
  pollOnce(currency: UtxoCurrency): Promise<PollSummary | undefined>;
  /** Polls every configured currency forever (interval from config), with backoff on node errors. */
  start(): void;
  stop(): Promise<void>;
}

export interface EletroPayWatcherDeps {
  db: Db;
  config: EletroPayConfig;
  adapters: Partial<Record<UtxoCurrency, UtxoChainAdapter>>;
  service: EletroPayService;
  log?: Logger;
}

/** Advisory-lock keys ("ethpos:eletropay:<cur>"), so one process polls each currency. */
const LOCK_KEYS: Record<UtxoCurrency, bigint> = {
  DASH: 7_402_118_410n,
  LTC: 7_402_118_411n,
  BTC: 7_402_118_412n,
};

interface PaymentRow {
  amount: string;
  state: "mempool" | "block" | "vanished";
  reported_confirmations: number | null;
}

/**
 * Follows each UTXO chain and turns what it sees into EletroPay callbacks.
 *
 * Callback policy, per (currency, txid, address) — one callback stream each:
 * - at first detection: one callback with the current confirmations (0 when in the mempool);
 * - then one callback for EVERY confirmation count up to the currency's required count, in
 *   order, even when several blocks arrived between two polls (so 0,1,2,…,N with nothing skipped);
 * - a reorg that lowers the count (back in the mempool: 0; re-mined lower: that count) gets a
 *   callback with the lower value, and counting resumes from there;
 * - a payment that vanished (neither in the chain nor in the mempool) gets no further callback;
 *   it is marked `vanished`, logged at error level and recorded in eletropay_events.
 * Payments, callbacks and the listsinceblock cursor are committed in one transaction, so a
 * restart resumes exactly where the last commit left off: nothing is missed or sent twice.
 */
export function createEletroPayWatcher(deps: EletroPayWatcherDeps): EletroPayWatcher {
  const { db, config, adapters, service } = deps;
  const log = deps.log ?? silentLogger;
  const ready = new Set<UtxoCurrency>();
  const timers = new Map<UtxoCurrency, NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  let stopped = true;

  async function pollUnlocked(currency: UtxoCurrency): Promise<PollSummary> {
    const cc = config.currencies[currency];
    const adapter = adapters[currency];
    if (!cc || !adapter) throw new Error(`${currency} is not configured`);
    if (!ready.has(currency)) {
      await adapter.ensureReady();
      ready.add(currency);
    }

    // Addresses whose import failed at issue time: import now, rescanning from their issue time.
    // (Younger ones may still be in the middle of their own import by the API request.)
    const { rows: pending } = await db.query<{ address: string; issued_at: Date }>(
      `SELECT address, issued_at FROM eletropay_addresses
       WHERE currency = $1 AND imported_at IS NULL AND issued_at < now() - interval '30 seconds'
       ORDER BY issued_at LIMIT 1000`,
      [currency],
    );
    if (pending.length > 0) {
      const since = (d: Date) => Math.floor(new Date(d).getTime() / 1000) - 60;
      await adapter.importAddresses(pending.map((p) => ({ address: p.address, since: since(p.issued_at) })));
      await db.query(
        "UPDATE eletropay_addresses SET imported_at = now() WHERE currency = $1 AND address = ANY($2)",
        [currency, pending.map((p) => p.address)],
      );
    }

    const { rows: stateRows } = await db.query<{ cursor_hash: string | null }>(
      "SELECT cursor_hash FROM eletropay_chain_state WHERE currency = $1",
      [currency],
    );
    const { rows: tracked } = await db.query<{ txid: string; address: string }>(
      "SELECT txid, address FROM eletropay_payments WHERE currency = $1 AND NOT final AND state <> 'vanished'",
      [currency],
    );
    const result = await adapter.poll(stateRows[0]?.cursor_hash ?? null, cc.confirmations, tracked);

    const summary: PollSummary = {
      currency,
      tipHeight: result.tipHeight,
      observed: result.observations.length,
      callbacks: 0,
      vanished: 0,
      imported: pending.length,
    };
    await db.transaction(async (tx) => {
      if (result.cursorReset) {
        log.warn({ currency }, "stored chain cursor unknown to the node; re-listed the wallet from scratch");
        await tx.query(
          "INSERT INTO eletropay_events (currency, kind, detail) VALUES ($1, 'cursor_reset', $2)",
          [currency, `cursor ${stateRows[0]?.cursor_hash ?? ""} not found`],
        );
      }
      for (const obs of result.observations) {
        const applied = await applyObservation(tx, currency, obs);
        summary.callbacks += applied.callbacks;
        if (applied.vanished) summary.vanished++;
      }
      await tx.query(
        `INSERT INTO eletropay_chain_state (currency, cursor_hash, tip_height, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (currency) DO UPDATE SET cursor_hash = $2, tip_height = $3, updated_at = now()`,
        [currency, result.cursor, result.tipHeight],
      );
    });
    return summary;
  }

  async function applyObservation(
    tx: Queryable,
    currency: UtxoCurrency,
    obs: PaymentObservation,
  ): Promise<{ callbacks: number; vanished: boolean }> {
    const cc = config.currencies[currency]!;
    const required = cc.confirmations;
    const { rows: owners } = await tx.query<{ client_id: bigint }>(
      "SELECT client_id FROM eletropay_addresses WHERE currency = $1 AND address = $2",
      [currency, obs.address],
    );
    const owner = owners[0];
    if (!owner) return { callbacks: 0, vanished: false }; // not one of ours (shared wallet)
    const { rows } = await tx.query<PaymentRow>(
      `SELECT amount, state, reported_confirmations FROM eletropay_payments
       WHERE currency = $1 AND txid = $2 AND address = $3 FOR UPDATE`,
      [currency, obs.txid, obs.address],
    );
    const existing = rows[0];

    if (obs.state === "vanished") {
      if (!existing || existing.state === "vanished") return { callbacks: 0, vanished: false };
      await tx.query(
        `UPDATE eletropay_payments SET state = 'vanished', vanished_at = now(), updated_at = now(), confirmations = 0
         WHERE currency = $1 AND txid = $2 AND address = $3`,
        [currency, obs.txid, obs.address],
      );
      await tx.query(
        `INSERT INTO eletropay_events (currency, kind, txid, address, detail) VALUES ($1, 'vanished', $2, $3, $4)`,
        [
          currency,
          obs.txid,
          obs.address,
          `reorged out and not in the mempool; last reported ${existing.reported_confirmations} confirmations; no further callbacks`,
        ],
      );
      log.error(
        { currency, txid: obs.txid, address: obs.address, lastReported: existing.reported_confirmations },
        "EletroPay payment vanished after a reorg: no further callbacks",
      );
      return { callbacks: 0, vanished: true };
    }

    const isDash = currency === "DASH";
    const effective = effectiveConfirmations(
      obs.confirmations,
      obs,
      required,
      isDash && config.dashInstantSendAsConfirmed,
    );
    const capped = Math.min(effective, required);
    const amount = obs.amount;

    let toSend: number[];
    if (!existing) {
      toSend = [capped];
    } else if (existing.state === "vanished" || existing.reported_confirmations === null) {
      await tx.query(
        `INSERT INTO eletropay_events (currency, kind, txid, address, detail) VALUES ($1, 'revived', $2, $3, $4)`,
        [currency, obs.txid, obs.address, `seen again with ${capped} confirmations`],
      );
      log.warn({ currency, txid: obs.txid, confirmations: capped }, "vanished EletroPay payment is back");
      toSend = [capped];
    } else {
      const previous = existing.reported_confirmations;
      if (capped > previous) {
        toSend = [];
        for (let n = previous + 1; n <= capped; n++) toSend.push(n);
      } else if (capped < previous) {
        await tx.query(
          `INSERT INTO eletropay_events (currency, kind, txid, address, detail) VALUES ($1, 'reorg', $2, $3, $4)`,
          [currency, obs.txid, obs.address, `confirmations ${previous} -> ${capped} (${obs.state})`],
        );
        log.warn(
          { currency, txid: obs.txid, from: previous, to: capped },
          "EletroPay payment lost confirmations in a reorg",
        );
        toSend = [capped];
      } else {
        toSend = [];
      }
    }

    await tx.query(
      `INSERT INTO eletropay_payments (currency, txid, address, amount, vouts, state, block_hash, block_height,
                                       confirmations, reported_confirmations, final)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (currency, txid, address) DO UPDATE SET
         amount = $4, vouts = $5, state = $6, block_hash = $7, block_height = $8, confirmations = $9,
         reported_confirmations = $10, final = $11, vanished_at = NULL, updated_at = now()`,
      [
        currency,
        obs.txid,
        obs.address,
        amount.toString(),
        obs.vouts.join(","),
        obs.state,
        obs.blockHash,
        obs.blockHeight,
        effective,
        capped,
        capped >= required,
      ],
    );
    if (!existing) {
      await tx.query(
        "UPDATE eletropay_addresses SET paid_at = COALESCE(paid_at, now()) WHERE currency = $1 AND address = $2",
        [currency, obs.address],
      );
    }
    if (toSend.length > 0) {
      const key = await service.callbackKeyFor(tx, owner.client_id);
      const url = callbackUrlFor(config, key, currency);
      for (const confirmations of toSend) {
        await insertCallback(tx, {
          stream: `eletropay:${currency}:${obs.txid}:${obs.address}`,
          kind: ELETROPAY_CALLBACK_KIND,
          url,
          body: eletropayCallbackBody({ amount, confirmations, address: obs.address, txid: obs.txid }),
          secretRef: "eletropay",
        });
      }
    }
    return { callbacks: toSend.length, vanished: false };
  }

  async function pollOnce(currency: UtxoCurrency): Promise<PollSummary | undefined> {
    return db.withAdvisoryLock(LOCK_KEYS[currency], () => pollUnlocked(currency));
  }

  function loop(currency: UtxoCurrency, failures: number): void {
    if (stopped) return;
    const delay =
      failures < 0
        ? 0
        : failures === 0
          ? config.pollIntervalMs
          : Math.min(60_000, config.pollIntervalMs * 2 ** failures);
    const timer = setTimeout(() => {
      const run = pollOnce(currency).then(
        () => loop(currency, 0),
        (error: unknown) => {
          const fatal = error instanceof RpcAuthError;
          log[fatal ? "error" : "warn"](
            { currency, err: (error as Error).message, failures: failures + 1 },
            "EletroPay poll failed",
          );
          ready.delete(currency);
          loop(currency, Math.min(failures + 1, 10));
        },
      );
      running.add(run);
      void run.finally(() => running.delete(run));
    }, delay);
    timers.set(currency, timer);
  }

  return {
    pollOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      for (const currency of UTXO_CURRENCIES) {
        if (config.currencies[currency] && adapters[currency]) loop(currency, -1);
      }
    },
    async stop() {
      stopped = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}
