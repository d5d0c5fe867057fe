import { randomBytes } from "node:crypto";
import { getAddress } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import { selectChain } from "../chain/select.ts";
import type { Db } from "../db/types.ts";
import { depositAddress } from "../deposits/address.ts";
import { registerDepositAddress, setDepositWatchWindow } from "../deposits/repository.ts";
import { badRequest, forbidden, notFound, unavailable } from "../lib/errors.ts";
import { parseUsdCents } from "../lib/money.ts";
import { parseCallbackUrl, parseHttpUrl } from "../lib/url.ts";
import { planAllowsAmount, planAmountLimitText, PLANS } from "../merchants/plans.ts";
import type { Merchant } from "../merchants/service.ts";
import { newOrderReference } from "../orders/ids.ts";
import { parseMerchantAddress } from "../orders/service.ts";
import {
  allowCollecting,
  openAskedSubscriptions,
  stopCollecting,
} from "../token-subscriptions/repository.ts";
import type { RecurringEvents } from "./events.ts";
import { currentRate, expectedFor, type RecurringChain } from "./rates.ts";
import { tokenPullTerms } from "./credits.ts";
import { refreshSubscriptions } from "./refresh.ts";
import {
  cancelSubscriptionRow,
  countLiveSubscriptions,
  findSubscription,
  findSubscriptionByPageToken,
  insertSubscription,
  listSubscriptions,
  lockMerchantSubscriptions,
  lockSubscriptions,
  periodsOf,
  type PeriodRow,
  type SubscriptionRow,
} from "./repository.ts";
import { openDuePeriods } from "./scheduler.ts";
import { isInterval, INTERVALS, ON_CHAIN_INTERVAL_SECONDS, type Interval } from "./schedule.ts";
import type { RecurringStatus } from "./state.ts";

/**
 * The Recurring Payments plugin's "Max Amount" column (500) read as a cap on live subscriptions:
 * at most 500 that are neither cancelled nor expired per merchant (docs/recurring.md).
 */
export const RECURRING_PLUGIN_MAX_LIVE = 500;
/** A subscription's deposit address is watched while it runs: ~100 years, shortened at cancel. */
const WATCH_FOREVER_SECONDS = 100 * 365 * 86_400;
const DEFAULT_WATCH_AFTER_CANCEL_SECONDS = 24 * 3600;
const DAY_MS = 86_400_000;
/** A token_pull subscription without `start` starts this long after creation (time to subscribe on chain). */
const TOKEN_PULL_DEFAULT_LEAD_MS = 3_600_000;
/** The contract's cap on the amount per period (`type(uint96).max`). */
const MAX_AMOUNT_PER_PERIOD = 2n ** 96n - 1n;
const YEAR_SECONDS = 31_536_000n;

export interface CreateSubscriptionInput {
  amount: string;
  interval?: string | undefined;
  start?: string | undefined;
  address: string;
  callback: string;
  item_title?: string | undefined;
  item_description?: string | undefined;
  item_image?: string | undefined;
  token?: string | undefined;
  chain?: string | undefined;
  method?: string | undefined;
  /** The fiat currency of `amount`; subscriptions are billed in USD only for now. */
  currency?: string | undefined;
}

export interface RecurringServiceDeps {
  db: Db;
  /** The configured chains; the first is the default. */
  chains: readonly RecurringChain[];
  events: RecurringEvents;
  /** The wall clock in ms (tests control it). */
  now: () => number;
  indexedBlock: (chainId: bigint) => bigint | null;
  allowPrivateCallbacks?: boolean;
  /** The plugin's cap; default RECURRING_PLUGIN_MAX_LIVE. */
  maxLive?: number;
}

/**
 * What the customer's wallet calls for a token_pull subscription: `approve` on the token, then
 * `subscribe` on the chain's Subscriptions contract with exactly these arguments (the terms the
 * server credits; see docs/recurring.md).
 */
export interface TokenPullCall {
  contract: string;
  function: "subscribe";
  args: {
    merchant: string;
    token: string;
    /** Token units, decimal string. */
    amountPerPeriod: string;
    /** Seconds, decimal string. */
    interval: string;
    /** Unix seconds, decimal string (never 0: the start is fixed at creation). */
    start: string;
    /** bytes32 hex. */
    ref: string;
  };
  /** A year of periods (at least one): the customer's overall cap; any allowance ≥ one period works. */
  approve: { token: string; spender: string; amount: string };
}

/**
 * What a cancelled token_pull subscription still needs on chain. Cancelling through the API stops
 * this server's collector, but the on-chain subscription stays open and `collect(id)` is
 * permissionless: anyone can still charge the customer each period until the customer (or the
 * merchant) calls `cancel(id)` on the contract, or the customer revokes the allowance.
 */
export interface OnChainCancel {
  /** True while an on-chain subscription with the terms asked for is open (as far as indexed). */
  required: boolean;
  /** What the customer must do, in words. */
  message: string;
  /** The Subscriptions contract (EIP-55). */
  contract: string;
  /** The open on-chain subscriptions: `cancel(id)` from the customer's (or the merchant's) address. */
  open: { id: string; customer: string }[];
  /** The other way: `approve(spender, 0)` on the token, from the customer's address. */
  revoke: { token: string; spender: string; amount: "0" };
}

export interface SubscriptionView {
  subscription: SubscriptionRow;
  periods: PeriodRow[];
  /** For a token_pull subscription on a chain with its Subscriptions contract. */
  tokenPull?: TokenPullCall;
  /** For a cancelled token_pull subscription: what is still to do on chain. */
  onChainCancel?: OnChainCancel;
}

/** Recurring billing needs the Seller plan or above and the Recurring Payments plugin (403 naming the plan). */
export function requireRecurring(merchant: Merchant): void {
  const plan = PLANS[merchant.plan];
  if (!plan.recurring) {
    throw forbidden(
      `recurring billing needs the Seller plan or above; this account is on ${plan.label}`,
      "plan_no_recurring",
    );
  }
  if (!merchant.plugins.recurring_payments) {
    throw forbidden(
      `recurring billing needs the Recurring Payments plugin, which is off for this account (${plan.label} plan); ask the operator to enable it`,
      "plugin_recurring_payments_off",
    );
  }
}

export function createRecurringService(deps: RecurringServiceDeps) {
  const { db } = deps;
  const maxLive = deps.maxLive ?? RECURRING_PLUGIN_MAX_LIVE;
  if (deps.chains.length === 0) throw new Error("createRecurringService: no chain configured");
  const ctx = () => ({ now: new Date(deps.now()), indexedBlock: deps.indexedBlock, events: deps.events });

  /** A configured chain by name or id (the default when unset). */
  const chainOf = (wanted: string | undefined): RecurringChain => selectChain(deps.chains, wanted);

  async function withPeriods(rows: SubscriptionRow[]): Promise<SubscriptionView[]> {
    const periods = await periodsOf(
      db,
      rows.map((r) => r.id),
    );
    return Promise.all(
      rows.map(async (r) => {
        const own = periods.get(r.id) ?? [];
        const tokenPull = tokenPullCall(r, own);
        const onChainCancel = await onChainCancelOf(r);
        return {
          subscription: r,
          periods: own,
          ...(tokenPull ? { tokenPull } : {}),
          ...(onChainCancel ? { onChainCancel } : {}),
        };
      }),
    );
  }

  /** A cancelled token_pull subscription: the open on-chain subscriptions that can still be charged. */
  async function onChainCancelOf(s: SubscriptionRow): Promise<OnChainCancel | undefined> {
    if (s.method !== "token_pull" || s.cancelled_at === null) return undefined;
    const open = await openAskedSubscriptions(db, s.chain_id, s.reference);
    const configured = deps.chains.find((c) => c.chainId === s.chain_id)?.subscriptions;
    const address = configured ?? open[0]?.contract;
    if (!address) return undefined;
    const contract = getAddress(address);
    const token = getAddress(s.token);
    const ids = open.map((o) => o.id.toString());
    const calls = ids.map((id) => `cancel(${id})`).join(" and ");
    const message =
      ids.length === 0
        ? "Cancelled. No on-chain subscription with these terms is open (none was made, or it was cancelled on chain): nothing more can be charged. Do not subscribe on chain for it."
        : `Cancelled here: this server collects nothing more, but on-chain subscription ${ids.join(", ")} is still open, and anyone can call collect on it each period (collect is permissionless), so the customer can still be charged. ` +
          `To stop it, the customer (or the merchant, from ${getAddress(s.merchant_address)}) calls ${calls} on the Subscriptions contract ${contract}, ` +
          `or the customer revokes the allowance with approve(${contract}, 0) on the token ${token}.`;
    return {
      required: ids.length > 0,
      message,
      contract,
      open: open.map((o) => ({ id: o.id.toString(), customer: getAddress(o.customer) })),
      revoke: { token, spender: contract, amount: "0" },
    };
  }

  function tokenPullCall(s: SubscriptionRow, periods: readonly PeriodRow[]): TokenPullCall | undefined {
    if (s.method !== "token_pull") return undefined;
    const contract = deps.chains.find((c) => c.chainId === s.chain_id)?.subscriptions;
    const first = periods.find((p) => p.index === 0);
    if (!contract || !first) return undefined;
    const amountPerPeriod = BigInt(first.expected_amount);
    const interval = ON_CHAIN_INTERVAL_SECONDS[s.interval];
    const periodsPerYear = (YEAR_SECONDS + interval - 1n) / interval;
    const token = getAddress(s.token);
    return {
      contract: getAddress(contract),
      function: "subscribe",
      args: {
        merchant: getAddress(s.merchant_address),
        token,
        amountPerPeriod: amountPerPeriod.toString(),
        interval: interval.toString(),
        start: Math.floor(s.starts_at.getTime() / 1000).toString(),
        ref: s.reference,
      },
      approve: {
        token,
        spender: getAddress(contract),
        amount: (amountPerPeriod * periodsPerYear).toString(),
      },
    };
  }

  /** The token of a token_pull subscription: required, an ERC-20 of the chain, with a USD peg. */
  function tokenPullToken(chain: RecurringChain, wanted: string | undefined) {
    if (wanted === undefined || wanted.trim() === "") {
      throw badRequest(
        `method token_pull needs token: one of ${chain.tokens.map((t) => t.symbol).join(", ") || "(no token is configured on " + chain.name + ")"} (a symbol or its address)`,
        "token_required",
      );
    }
    const key = wanted.trim();
    if (key.toUpperCase() === "ETH" || key.toLowerCase() === ETH_TOKEN) {
      throw badRequest(
        "method token_pull pulls an ERC-20 token; ETH cannot be pulled: use a token (like USDC) or method deposit for ETH",
        "token_pull_no_eth",
      );
    }
    if (!chain.subscriptions) {
      throw badRequest(
        `method token_pull needs the Subscriptions contract on ${chain.name} (chain ${chain.chainId}), and none is configured; the operator sets SUBSCRIPTIONS_ADDRESS (CHAIN_<NAME>_SUBSCRIPTIONS_ADDRESS with CHAINS), or use method deposit`,
        "token_pull_unavailable",
      );
    }
    const t = chain.tokens.find((x) =>
      /^0x[0-9a-fA-F]{40}$/.test(key)
        ? x.address.toLowerCase() === key.toLowerCase()
        : x.symbol === key.toUpperCase(),
    );
    if (!t) {
      const known = chain.tokens.map((x) => `${x.symbol} (${x.address})`).join(", ") || "none";
      throw badRequest(
        `token ${wanted} is not accepted on ${chain.name}; token_pull takes one of ${known}`,
        "unsupported_token",
      );
    }
    if (!/^\d+(\.\d{1,8})?$/.test(t.usdPeg) || !/[1-9]/.test(t.usdPeg)) {
      throw badRequest(
        `token ${t.symbol} has no usable USD peg on ${chain.name} (usdPeg "${t.usdPeg}"), so its amount per period cannot be fixed on chain; use a pegged token or method deposit`,
        "token_no_peg",
      );
    }
    return { address: t.address.toLowerCase(), symbol: t.symbol, decimals: t.decimals };
  }

  async function create(input: CreateSubscriptionInput, merchant: Merchant): Promise<SubscriptionView> {
    requireRecurring(merchant);
    const plan = PLANS[merchant.plan];
    const method = input.method ?? "deposit";
    if (method !== "deposit" && method !== "token_pull")
      throw badRequest("method must be deposit or token_pull", "invalid_method");
    const pull = method === "token_pull";
    // Each period locks its rate when it opens: a period in another currency would need its fiat
    // rate locked too, which the schedule does not do yet.
    if (input.currency !== undefined && input.currency.toLowerCase() !== "usd") {
      throw badRequest(
        `currency ${input.currency} is not accepted for subscriptions yet; subscriptions are billed in usd (orders accept the currencies this server enables)`,
        "unsupported_currency",
      );
    }
    const usdCents = parseUsdCents(input.amount);
    if (usdCents === undefined || usdCents <= 0n) {
      throw badRequest(
        'amount must be a USD decimal string greater than 0 with at most 2 decimals, like "9.99"',
        "invalid_amount",
      );
    }
    if (!planAllowsAmount(plan, usdCents)) {
      throw forbidden(
        `the ${plan.label} plan allows payments ${planAmountLimitText(plan)}, each period included; upgrade the plan for larger subscriptions`,
        "plan_max_amount",
      );
    }
    const interval: Interval = input.interval === undefined ? "monthly" : (input.interval as Interval);
    if (!isInterval(interval)) {
      throw badRequest(
        `interval must be one of ${INTERVALS.join(", ")} (default monthly)`,
        "invalid_interval",
      );
    }
    const now = deps.now();
    // token_pull: the start is bound on chain in whole seconds and must not be past when the
    // customer subscribes, so it defaults to an hour from now and may not be in the past.
    let startsAt = pull
      ? new Date(Math.ceil((now + TOKEN_PULL_DEFAULT_LEAD_MS) / 1000) * 1000)
      : new Date(now);
    if (input.start !== undefined) {
      const parsed = Date.parse(input.start);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(input.start) || Number.isNaN(parsed)) {
        throw badRequest('start must be an RFC 3339 date-time, like "2026-12-01T00:00:00Z"', "invalid_start");
      }
      if (pull && (parsed <= now || parsed > now + 366 * DAY_MS || parsed % 1000 !== 0)) {
        throw badRequest(
          "for method token_pull, start must be a whole second later than now and at most one year ahead (the contract binds it and refuses a start in the past when the customer subscribes); omit it for one hour from now",
          "invalid_start",
        );
      }
      if (parsed < now - DAY_MS || parsed > now + 366 * DAY_MS) {
        throw badRequest(
          "start must be between 24 hours ago and one year from now (the first payment is due then)",
          "invalid_start",
        );
      }
      startsAt = new Date(parsed);
    }
    const merchantAddress = parseMerchantAddress(input.address).toLowerCase();
    const callback = parseCallbackUrl(input.callback, deps.allowPrivateCallbacks ?? false);
    const itemImage = input.item_image === undefined ? null : parseHttpUrl(input.item_image, "item_image");
    const chain = chainOf(input.chain);
    const failure = chain.failure();
    if (failure !== null) {
      throw unavailable(
        `payments on ${chain.name} (chain ${chain.chainId}) are not being followed right now (${failure}); try again later or use another chain`,
        "chain_unavailable",
      );
    }
    // Its first period is payable at once: not while the L2's sequencer is down or just back.
    await chain.sequencer?.check();
    const deposits = chain.deposits;
    if (!deposits) {
      throw unavailable(
        `${chain.name} has no deposit addresses, so it cannot carry subscriptions`,
        "chain_unavailable",
      );
    }
    let token: { address: string; symbol: string; decimals: number };
    if (pull) {
      token = tokenPullToken(chain, input.token);
    } else if (input.token === undefined || input.token.toUpperCase() === "ETH") {
      token = { address: ETH_TOKEN, symbol: "ETH", decimals: 18 };
    } else {
      const t = chain.tokens.find((x) => x.symbol === input.token?.toUpperCase());
      if (!t) {
        const known = ["ETH", ...chain.tokens.map((x) => x.symbol)].join(", ");
        throw badRequest(
          `token ${input.token} is not accepted on ${chain.name}; use one of ${known}`,
          "unsupported_token",
        );
      }
      token = { address: t.address.toLowerCase(), symbol: t.symbol, decimals: t.decimals };
    }
    // The first period's rate is locked now, so the customer can pay at once.
    const rate = await currentRate(chain, token.address);
    const perPeriod = expectedFor(usdCents, rate, token.decimals);
    if (perPeriod <= 0n) throw badRequest("amount is too small to price", "invalid_amount");
    if (pull && perPeriod > MAX_AMOUNT_PER_PERIOD)
      throw badRequest(
        "amount is too large for the Subscriptions contract (uint96 per period)",
        "invalid_amount",
      );

    const reference = newOrderReference();
    const address = depositAddress(deposits.derivation, merchantAddress, reference);
    const id = await db.transaction(async (tx) => {
      await lockMerchantSubscriptions(tx, merchant.id);
      if ((await countLiveSubscriptions(tx, merchant.id)) >= maxLive) {
        throw forbidden(
          `the Recurring Payments plugin allows at most ${maxLive} live subscriptions (neither cancelled nor expired) on the ${plan.label} plan; cancel one first`,
          "plugin_recurring_payments_limit",
        );
      }
      // A token_pull subscription is paid by the contract's collections: its derived address is
      // kept (unique per subscription) but never watched or shown.
      if (!pull) {
        await registerDepositAddress(tx, {
          chainId: chain.chainId,
          address,
          merchant: merchantAddress,
          orderRef: reference,
          token: token.address,
          watchSeconds: WATCH_FOREVER_SECONDS,
        });
      }
      const row = await insertSubscription(tx, {
        merchantId: merchant.id,
        chainId: chain.chainId,
        method,
        token: token.address,
        tokenSymbol: token.symbol,
        tokenDecimals: token.decimals,
        usdCents,
        interval,
        startsAt,
        merchantAddress,
        callback,
        itemTitle: input.item_title ?? null,
        itemDescription: input.item_description ?? null,
        itemImage,
        reference,
        depositAddress: address,
        pageToken: randomBytes(16).toString("hex"),
        createdAt: new Date(now),
      });
      await openDuePeriods(tx, row, 0, new Date(now), rate);
      // The collector collects only on-chain subscriptions with exactly these terms (the ones the
      // customer is asked to sign, and the only ones credited).
      if (pull)
        await allowCollecting(tx, chain.chainId, { ref: reference, ...tokenPullTerms(row, perPeriod) });
      await refreshSubscriptions(tx, await lockSubscriptions(tx, [row.id]), { ...ctx(), initial: true });
      return row.id;
    });
    return get(id, merchant);
  }

  /** A subscription of this merchant (404 for any other's). */
  async function get(id: bigint, merchant: Merchant): Promise<SubscriptionView> {
    requireRecurring(merchant);
    const row = await findSubscription(db, id);
    if (!row || row.merchant_id !== merchant.id)
      throw notFound(`subscription ${id} was not found`, "subscription_not_found");
    const [view] = await withPeriods([row]);
    return view as SubscriptionView;
  }

  /** Newest first; the cursor is the last id of the previous page. */
  async function list(
    merchant: Merchant,
    options: { status?: RecurringStatus | undefined; limit: number; cursor?: string | undefined },
  ): Promise<{ items: SubscriptionView[]; nextCursor: string | null }> {
    requireRecurring(merchant);
    let beforeId: bigint | undefined;
    if (options.cursor !== undefined) {
      if (!/^[1-9][0-9]{0,17}$/.test(options.cursor)) {
        throw badRequest("cursor is not valid; pass the next_cursor of the previous page", "invalid_cursor");
      }
      beforeId = BigInt(options.cursor);
    }
    const rows = await listSubscriptions(db, merchant.id, {
      status: options.status,
      limit: options.limit + 1,
      beforeId,
    });
    const page = rows.slice(0, options.limit);
    const last = page.at(-1);
    return {
      items: await withPeriods(page),
      nextCursor: rows.length > options.limit && last ? last.id.toString() : null,
    };
  }

  /**
   * Cancels at the current time: nothing more is owed from then on (an open period that would
   * start later is dropped); what was paid runs to its end. The deposit address stays watched for
   * the chain's DEPOSIT_WATCH_HOURS (and while it holds unswept ETH). Cancelling twice is a no-op.
   */
  async function cancel(id: bigint, merchant: Merchant): Promise<SubscriptionView> {
    requireRecurring(merchant);
    await db.transaction(async (tx) => {
      const [row] = await lockSubscriptions(tx, [id]);
      if (!row || row.merchant_id !== merchant.id) {
        throw notFound(`subscription ${id} was not found`, "subscription_not_found");
      }
      if (row.cancelled_at !== null) return;
      const at = new Date(deps.now());
      await cancelSubscriptionRow(tx, id, at);
      // Nothing more is owed: this server stops pulling the customer's tokens, even while the
      // on-chain subscription stays open (only the customer or the merchant can cancel it there).
      if (row.method === "token_pull") await stopCollecting(tx, row.chain_id, row.reference);
      const chain = deps.chains.find((c) => c.chainId === row.chain_id);
      await setDepositWatchWindow(
        tx,
        row.chain_id,
        row.deposit_address,
        chain?.deposits?.watchAfterExpirySeconds ?? DEFAULT_WATCH_AFTER_CANCEL_SECONDS,
      );
      await refreshSubscriptions(tx, await lockSubscriptions(tx, [id]), ctx());
    });
    return get(id, merchant);
  }

  /** The hosted page's subscription, by its unguessable page token. */
  async function page(token: string): Promise<SubscriptionView | undefined> {
    if (!/^[0-9a-f]{32}$/.test(token)) return undefined;
    const row = await findSubscriptionByPageToken(db, token);
    if (!row) return undefined;
    const [view] = await withPeriods([row]);
    return view;
  }

  return { create, get, list, cancel, page };
}

export type RecurringService = ReturnType<typeof createRecurringService>;
