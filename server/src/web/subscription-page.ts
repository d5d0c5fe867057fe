import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps } from "../api/deps.ts";
import { gone, notFound } from "../lib/errors.ts";
import { getAddress } from "viem";
import { formatDecimal } from "../lib/money.ts";
import { entryToJson } from "../recurring/serialize.ts";
import type { SubscriptionView } from "../recurring/service.ts";
import { escapeHtml, htmlPage, scriptJson } from "./html.ts";
import { qrSvg } from "./pay-page.ts";
import { chainName } from "./pay-view.ts";
import { transferUri } from "./payment-uri.ts";

const STATUS_TEXT: Record<string, string> = {
  upcoming: "A payment is due soon",
  active: "Paid up",
  pending: "A payment is due",
  expired: "More than 10 days late",
};

/**
 * What the customer should send now: what the oldest open period still needs, or, when every
 * open period is paid, a whole next period at the newest locked rate (carried as credit).
 */
export function amountDue(v: SubscriptionView): { amount: bigint; periodIndex: number } | undefined {
  for (const p of v.periods) {
    const need = BigInt(p.expected_amount) - BigInt(p.paid_amount);
    if (need > 0n) return { amount: need, periodIndex: p.index };
  }
  const last = v.periods.at(-1);
  return last ? { amount: BigInt(last.expected_amount), periodIndex: last.index + 1 } : undefined;
}

export function subscriptionUri(v: SubscriptionView): string {
  const s = v.subscription;
  return transferUri({
    address: s.deposit_address,
    chainId: s.chain_id,
    token: s.token,
    amount: amountDue(v)?.amount ?? 0n,
  });
}

/** A token_pull subscription's page: the two calls the customer's wallet makes (no transfer to an address). */
function tokenPullSection(v: SubscriptionView): string {
  const call = v.tokenPull;
  if (!call) {
    return `<p id="token-pull-off">Token subscriptions are not available on this network right now.</p>`;
  }
  const a = call.args;
  return `<section class="option" id="token-pull" aria-labelledby="pull-title">
    <h2 id="pull-title">Subscribe from your wallet</h2>
    <p class="hint">Each period is collected from your wallet by the subscription contract; do not send money to an address.</p>
    <ol>
      <li>On the token <code>${escapeHtml(call.approve.token)}</code>: <code>approve(${escapeHtml(call.approve.spender)}, ${escapeHtml(call.approve.amount)})</code></li>
      <li>On <code id="contract">${escapeHtml(call.contract)}</code>: <code>subscribe(${[a.merchant, a.token, a.amountPerPeriod, a.interval, a.start, a.ref].map(escapeHtml).join(", ")})</code></li>
    </ol>
  </section>`;
}

/**
 * A cancelled token_pull subscription: cancelling through the API stops this server's collector, but
 * while the on-chain subscription is open anyone can still collect it. The page says so and offers
 * `cancel(id)` (and, the other way, revoking the allowance) through the customer's wallet.
 */
function onChainCancelSection(v: SubscriptionView): string {
  const c = v.onChainCancel;
  if (!c) return "";
  if (!c.required) return `<p id="on-chain-message">${escapeHtml(c.message)}</p>`;
  const s = v.subscription;
  const data = {
    chainId: Number(s.chain_id),
    chainName: chainName(Number(s.chain_id)),
    contract: c.contract,
    token: c.revoke.token,
    merchant: getAddress(s.merchant_address),
    open: c.open,
  };
  return `<section class="option" id="on-chain-cancel" aria-labelledby="on-chain-title">
    <h2 id="on-chain-title">Still open on chain: stop the payments</h2>
    <p id="on-chain-message">${escapeHtml(c.message)}</p>
    <ol>
      ${c.open.map((o) => `<li>On <code>${escapeHtml(c.contract)}</code>, from <code>${escapeHtml(o.customer)}</code>: <code class="cancel-call">cancel(${escapeHtml(o.id)})</code></li>`).join("\n      ")}
    </ol>
    <p>Or revoke the allowance: on the token <code>${escapeHtml(c.revoke.token)}</code>, <code id="revoke-call">approve(${escapeHtml(c.revoke.spender)}, 0)</code>.</p>
    <p id="cancel-hint" class="hint">Looking for a wallet in this browser…</p>
    <p>
      <button id="cancel-onchain" class="primary" type="button" disabled>Cancel on chain with your wallet</button>
      <button id="revoke" class="secondary" type="button" disabled>Revoke the allowance</button>
    </p>
    <p id="cancel-message" class="wallet-message" role="status" aria-live="polite"></p>
    <p id="cancel-error" class="wallet-error" role="alert"></p>
  </section>
  <script type="application/json" id="subscription-data">${scriptJson(data)}</script>
  <script type="module" src="/assets/subscription.js"></script>`;
}

/**
 * The hosted subscription page and its QR code, public by an unguessable token (not derivable from
 * chain data: the deposit address and its bytes32 reference lead nowhere). The QR carries the
 * EIP-681 plain transfer of what is due now; the address stays the same for every period.
 */
export const subscriptionPageRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const recurring = deps.recurring;
  if (!recurring) return;
  const Params = Type.Object({ token: Type.String({ pattern: "^[0-9a-f]{32}$" }) });
  async function load(token: string): Promise<SubscriptionView> {
    const v = await recurring?.page(token);
    if (!v) throw notFound("this subscription page does not exist", "subscription_not_found");
    return v;
  }

  app.get(
    "/subscription/:token/qr.svg",
    {
      config: { nonJson: true },
      schema: {
        tags: ["recurring"],
        summary: "QR code (SVG): the EIP-681 plain transfer of what is due now to the subscription's address",
        params: Params,
      },
    },
    async (request, reply) => {
      const v = await load(request.params.token);
      if (v.subscription.cancelled_at !== null)
        throw gone(
          "this subscription was cancelled: it takes no more payments, so it has no QR code",
          "subscription_cancelled",
        );
      // A token_pull subscription is not paid by a transfer: there is nothing to scan.
      if (v.subscription.method === "token_pull")
        throw notFound(
          "a token_pull subscription is paid by subscribing on chain; it has no QR code",
          "no_qr_code",
        );
      reply.header("content-type", "image/svg+xml").header("cache-control", "no-store");
      return qrSvg(subscriptionUri(v));
    },
  );

  app.get(
    "/subscription/:token",
    {
      config: { nonJson: true },
      schema: { tags: ["recurring"], summary: "Hosted subscription page", params: Params },
    },
    async (request, reply) => {
      const v = await load(request.params.token);
      const s = v.subscription;
      const e = entryToJson(s, v.periods, deps.config.publicUrl, deps.indexedBlock(s.chain_id));
      const due = amountDue(v);
      const symbol = escapeHtml(s.token_symbol);
      const amount = due ? formatDecimal(due.amount, s.token_decimals) : "";
      const title = e.item_title ? escapeHtml(e.item_title) : `Subscription ${e.id}`;
      const network = `${escapeHtml(chainName(Number(s.chain_id)))} (chain id ${s.chain_id})`;
      const closed = s.cancelled_at !== null;
      const paidAnything = v.periods.some((p) => BigInt(p.paid_amount) > 0n);
      reply.header("content-type", "text/html; charset=utf-8").header("cache-control", "no-store");
      return htmlPage({
        title: `${e.item_title || `Subscription ${e.id}`} · Ethereum POS`,
        stylesheets: ["pay.css"],
        body: `<main class="sheet" aria-labelledby="title" data-subscription-id="${e.id}" data-status="${e.status}">
  <header class="head">
    <p class="brand"><span class="logo" aria-hidden="true"></span>Ethereum POS <span class="muted">· Subscription ${e.id}</span></p>
    <h1 id="title">${title}</h1>
    ${e.item_description ? `<p class="description">${escapeHtml(e.item_description)}</p>` : ""}
  </header>
  <section class="due" aria-label="Price">
    <p class="fiat">$${escapeHtml(e.currency_amount)} USD ${escapeHtml(s.interval)}, paid in ${symbol} on ${network}</p>
    ${
      closed
        ? `<p>Status: <span class="pill" id="status" data-status="cancelled">cancelled</span> Nothing more is due.${
            paidAnything ? ` What was paid runs until <time id="paid-through">${e.paid_through}</time>.` : ""
          }</p>`
        : `<p>Status: <span class="pill" id="status" data-status="${e.status}">${e.status}</span> ${STATUS_TEXT[e.status] ?? ""}.
       Paid through <time id="paid-through">${e.paid_through}</time>.</p>`
    }
  </section>
  ${
    closed
      ? `<p id="cancelled">This subscription was cancelled on ${escapeHtml(e.cancelled_at ?? "")}.</p>
  ${onChainCancelSection(v)}`
      : s.method === "token_pull"
        ? tokenPullSection(v)
        : `<section class="option" aria-labelledby="scan-title">
    <h2 id="scan-title">Pay every period to this address</h2>
    <img class="qr" id="qr" src="/subscription/${s.page_token}/qr.svg" width="320" height="320"
         alt="QR code: send ${amount} ${symbol} to ${e.address}">
    <p class="hint">Send <strong id="amount">${amount} ${symbol}</strong> now from any wallet or exchange. The address stays the same for every period;
      money pays the oldest unpaid period first and anything more is carried to the next.</p>
    <p><code id="address">${e.address}</code></p>
  </section>`
  }
</main>`,
      });
    },
  );
};
