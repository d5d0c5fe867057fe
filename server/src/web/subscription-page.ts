import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps } from "../api/deps.ts";
import { gone, notFound } from "../lib/errors.ts";
import { getAddress } from "viem";
import { formatDecimal } from "../lib/money.ts";
import { entryToJson } from "../recurring/serialize.ts";
import type { SubscriptionView } from "../recurring/service.ts";
import { escapeHtml, htmlPage, scriptJson } from "./html.ts";
import { fillHtml, LangQuery, languagePicker, qrSvg } from "./pay-page.ts";
import { formatAmount, formatDate } from "./client/i18n.js";
import { clientMessages, pickLocale, translator, type Locale } from "./i18n/index.ts";
import { SUBSCRIPTION_MESSAGES, type SubscriptionKey } from "./i18n/messages/subscription.ts";
import { chainNameIn } from "./pay-view.ts";
import { transferUri } from "./payment-uri.ts";

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

type T = ReturnType<typeof translator<SubscriptionKey>>;
const code = (text: string) => `<code>${escapeHtml(text)}</code>`;

/** A token_pull subscription's page: the two calls the customer's wallet makes (no transfer to an address). */
function tokenPullSection(v: SubscriptionView, t: T): string {
  const call = v.tokenPull;
  if (!call) {
    return `<p id="token-pull-off">${escapeHtml(t("pull_off"))}</p>`;
  }
  const a = call.args;
  return `<section class="option" id="token-pull" aria-labelledby="pull-title">
    <h2 id="pull-title">${escapeHtml(t("pull_title"))}</h2>
    <p class="hint">${escapeHtml(t("pull_hint"))}</p>
    <ol>
      <li>${fillHtml(t("on_token"), { token: code(call.approve.token), call: code(`approve(${call.approve.spender}, ${call.approve.amount})`) })}</li>
      <li>${fillHtml(t("on_contract"), { contract: `<code id="contract">${escapeHtml(call.contract)}</code>`, call: code(`subscribe(${[a.merchant, a.token, a.amountPerPeriod, a.interval, a.start, a.ref].join(", ")})`) })}</li>
    </ol>
  </section>`;
}

/**
 * A cancelled token_pull subscription: cancelling through the API stops this server's collector, but
 * while the on-chain subscription is open anyone can still collect it. The page says so and offers
 * `cancel(id)` (and, the other way, revoking the allowance) through the customer's wallet.
 */
function onChainCancelSection(v: SubscriptionView, t: T, locale: Locale): string {
  const c = v.onChainCancel;
  if (!c) return "";
  const s = v.subscription;
  const merchant = getAddress(s.merchant_address);
  const ids = c.open.map((o) => o.id);
  const text = c.required
    ? t("on_chain_open", {
        ids: ids.join(", "),
        merchant,
        calls: new Intl.ListFormat(locale, { type: "conjunction" }).format(ids.map((id) => `cancel(${id})`)),
        contract: c.contract,
        token: c.revoke.token,
      })
    : t("on_chain_none");
  if (!c.required) return `<p id="on-chain-message">${escapeHtml(text)}</p>`;
  const data = {
    chainId: Number(s.chain_id),
    chainName: chainNameIn(Number(s.chain_id), locale),
    contract: c.contract,
    token: c.revoke.token,
    merchant,
    open: c.open,
    locale,
    messages: clientMessages(SUBSCRIPTION_MESSAGES, locale),
  };
  return `<section class="option" id="on-chain-cancel" aria-labelledby="on-chain-title">
    <h2 id="on-chain-title">${escapeHtml(t("on_chain_title"))}</h2>
    <p id="on-chain-message">${escapeHtml(text)}</p>
    <ol>
      ${c.open.map((o) => `<li>${fillHtml(t("cancel_from"), { contract: code(c.contract), customer: code(o.customer), call: `<code class="cancel-call">cancel(${escapeHtml(o.id)})</code>` })}</li>`).join("\n      ")}
    </ol>
    <p>${fillHtml(t("or_revoke"), { token: code(c.revoke.token), call: `<code id="revoke-call">approve(${escapeHtml(c.revoke.spender)}, 0)</code>` })}</p>
    <p id="cancel-hint" class="hint">${escapeHtml(t("wallet_looking"))}</p>
    <p class="buttons">
      <button id="cancel-onchain" class="primary" type="button" disabled>${escapeHtml(t("cancel_button"))}</button>
      <button id="revoke" class="secondary" type="button" disabled>${escapeHtml(t("revoke_button"))}</button>
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
      schema: {
        tags: ["recurring"],
        summary: "Hosted subscription page",
        description:
          "In the language of ?lang= (en, pt-BR, es), else the browser's Accept-Language, else the merchant's default (PUT /user/language), else English.",
        params: Params,
        querystring: LangQuery,
      },
    },
    async (request, reply) => {
      const v = await load(request.params.token);
      const s = v.subscription;
      const locale = pickLocale({
        query: request.query.lang,
        acceptLanguage: request.headers["accept-language"],
        fallback: (await deps.payPage.merchantLanguage?.(s.merchant_id)) ?? null,
      });
      const t = translator(SUBSCRIPTION_MESSAGES, locale);
      const known = <K extends string>(prefix: string, value: string): K | undefined =>
        Object.hasOwn(SUBSCRIPTION_MESSAGES.en, `${prefix}${value}`) ? (`${prefix}${value}` as K) : undefined;
      const e = entryToJson(s, v.periods, deps.config.publicUrl, deps.indexedBlock(s.chain_id));
      const due = amountDue(v);
      const symbol = escapeHtml(s.token_symbol);
      const amount = due ? formatAmount(formatDecimal(due.amount, s.token_decimals), locale) : "";
      const name = e.item_title || t("subscription", { id: e.id });
      const network = `${chainNameIn(Number(s.chain_id), locale)} ${t("chain_id", { id: Number(s.chain_id) })}`;
      const intervalKey = known<SubscriptionKey>("interval_", s.interval);
      const closed = s.cancelled_at !== null;
      const paidAnything = v.periods.some((p) => BigInt(p.paid_amount) > 0n);
      const date = (iso: string | null | undefined, id: string) =>
        iso
          ? `<time id="${id}" datetime="${escapeHtml(iso)}">${escapeHtml(formatDate(iso, locale))}</time>`
          : "";
      const pill = (status: string) => {
        const key = known<SubscriptionKey>("status_", status);
        return `<span class="pill" id="status" data-status="${escapeHtml(status)}">${escapeHtml(key ? t(key) : status)}</span>`;
      };
      const aboutKey = known<SubscriptionKey>("about_", e.status);
      reply
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header("content-language", locale)
        .header("vary", "accept-language");
      return htmlPage({
        title: `${name} · Ethereum POS`,
        stylesheets: ["pay.css"],
        lang: locale,
        body: `<main class="sheet" aria-labelledby="title" data-subscription-id="${e.id}" data-status="${e.status}">
  <header class="head">
    <div class="top"><p class="brand"><span class="logo" aria-hidden="true"></span>Ethereum POS <span class="muted">· ${escapeHtml(t("subscription", { id: e.id }))}</span></p>
    ${languagePicker(locale, t("language"), `/subscription/${s.page_token}`)}</div>
    <h1 id="title">${escapeHtml(name)}</h1>
    ${e.item_description ? `<p class="description">${escapeHtml(e.item_description)}</p>` : ""}
  </header>
  <section class="due" aria-label="${escapeHtml(t("price"))}">
    <p class="fiat">${escapeHtml(t("fiat", { usd: formatAmount(e.currency_amount, locale), interval: intervalKey ? t(intervalKey) : s.interval, symbol: s.token_symbol, network }))}</p>
    ${
      closed
        ? `<p>${fillHtml(t("status"), { status: pill("cancelled") })} ${escapeHtml(t("nothing_due"))}${
            paidAnything
              ? ` ${fillHtml(t("runs_until"), { date: date(e.paid_through, "paid-through") })}`
              : ""
          }</p>`
        : `<p>${fillHtml(t("status"), { status: pill(e.status) })} ${aboutKey ? escapeHtml(t(aboutKey)) : ""}
       ${fillHtml(t("paid_through"), { date: date(e.paid_through, "paid-through") })}</p>`
    }
  </section>
  ${
    closed
      ? `<p id="cancelled">${fillHtml(t("cancelled_on"), { date: date(e.cancelled_at, "cancelled-at") })}</p>
  ${onChainCancelSection(v, t, locale)}`
      : s.method === "token_pull"
        ? tokenPullSection(v, t)
        : `<section class="option" aria-labelledby="scan-title">
    <h2 id="scan-title">${escapeHtml(t("scan_title"))}</h2>
    <img class="qr" id="qr" src="/subscription/${s.page_token}/qr.svg" width="320" height="320"
         alt="${escapeHtml(t("qr_alt", { amount: `${amount} ${s.token_symbol}`, address: e.address }))}">
    <p class="hint">${fillHtml(t("send_hint"), { amount: `<strong id="amount">${escapeHtml(amount)} ${symbol}</strong>` })}</p>
    <p><code id="address">${e.address}</code></p>
  </section>`
  }
</main>`,
      });
    },
  );
};
