/**
 * The point-of-sale terminal's page (/pos): the shell pos.js fills in (client/pos.ts), in the
 * terminal's language. Served by console-page.ts.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../api/deps.ts";
import { escapeHtml, htmlPage, scriptJson } from "./html.ts";
import { fillHtml, LangQuery, languagePicker } from "./pay-page.ts";
import { clientMessages, pickLocale, translator, type Locale } from "./i18n/index.ts";
import { POS_MESSAGES } from "./i18n/messages/pos.ts";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "⌫"];

export function posBody(locale: Locale): string {
  const t = translator(POS_MESSAGES, locale);
  const e = (key: Parameters<typeof t>[0]) => escapeHtml(t(key));
  return `<main class="pos" aria-labelledby="pos-title">
  <header class="bar">
    <p class="brand"><span class="logo" aria-hidden="true"></span><span id="pos-title">${e("page_title")}</span></p>
    ${languagePicker(locale, t("language"), "/pos")}
    <p id="who" class="who" hidden><span id="who-name"></span> <button id="sign-out" type="button" class="link">${e("sign_out")}</button></p>
  </header>
  <p id="error" class="wallet-error" role="alert"></p>
  <section id="signin" class="panel" aria-labelledby="signin-title" hidden>
    <h1 id="signin-title">${e("signin_title")}</h1>
    <form id="key-form" class="row">
      <label for="terminal-key">${e("terminal_key")}</label>
      <input id="terminal-key" type="password" autocomplete="off" placeholder="epos_term_…" required>
      <button type="submit" class="primary">${e("sign_in")}</button>
    </form>
    <p class="muted">${fillHtml(t("console_hint"), { console: `<a href="/console">${e("console")}</a>` })}</p>
  </section>
  <section id="keypad-screen" class="panel" aria-labelledby="amount-title" hidden>
    <h1 id="amount-title" class="sr-only">${e("amount")}</h1>
    <p class="pos-amount" aria-live="polite">${fillHtml(t("amount_usd"), { amount: `<output id="pos-amount">0.00</output>` })}</p>
    <div class="row" id="callback-row" hidden>
      <label for="pos-callback">${e("callback_url")}</label>
      <input id="pos-callback" type="url" placeholder="https://shop.example/ethpos">
    </div>
    <div class="row" id="token-row">
      <label for="pos-token">${e("pay_in")}</label>
      <select id="pos-token"></select>
    </div>
    <div class="keypad" role="group" aria-label="${e("keypad")}">
      ${KEYS.map(
        (k) =>
          `<button type="button" class="key" data-key="${k}" aria-label="${k === "C" ? e("clear") : k === "⌫" ? e("delete") : k}">${k}</button>`,
      ).join("")}
    </div>
    <button id="charge" class="primary" type="button" disabled>${e("charge")}</button>
  </section>
  <section id="qr-screen" class="panel qr-screen" aria-labelledby="qr-title" hidden>
    <h1 id="qr-title" class="sr-only">${e("scan_to_pay")}</h1>
    <p class="pos-due"><span id="qr-amount"></span></p>
    <img id="pos-qr" alt="" width="320" height="320">
    <p id="qr-state" class="pos-state" role="status" aria-live="polite" data-tone="waiting">${e("waiting")}</p>
    <p class="muted small">${fillHtml(t("order_line"), { id: `<span id="qr-order"></span>`, link: `<a id="qr-link" href="#">${e("open_payment_page")}</a>` })}</p>
    <button id="new-sale" class="primary" type="button">${e("new_sale")}</button>
  </section>
</main>`;
}

/** The whole /pos page: the body, the console's page config and the terminal's words for pos.js. */
export function posPage(locale: Locale, config: object): string {
  const t = translator(POS_MESSAGES, locale);
  return htmlPage({
    title: `${t("page_title")} · Ethereum POS`,
    stylesheets: ["pay.css", "console.css", "pos.css"],
    lang: locale,
    body: `${posBody(locale)}
<script type="application/json" id="config">${scriptJson(config)}</script>
<script type="application/json" id="pos-i18n">${scriptJson({ locale, messages: clientMessages(POS_MESSAGES, locale) })}</script>
<script type="module" src="/assets/pos.js"></script>`,
  });
}

/** `?lang=` of /pos (the page works without it). */
export const PosQuery = LangQuery;

/**
 * Answers GET /pos: in the language of `?lang=`, else the browser's Accept-Language, else the
 * signed-in merchant's default (PUT /user/language), else English.
 */
export async function servePos(
  request: FastifyRequest,
  lang: string | undefined,
  reply: FastifyReply,
  deps: AppDeps,
  config: object,
): Promise<string> {
  const merchantId = request.webSession?.merchant.id;
  const locale = pickLocale({
    query: lang,
    acceptLanguage: request.headers["accept-language"],
    fallback: merchantId === undefined ? null : ((await deps.payPage.merchantLanguage?.(merchantId)) ?? null),
  });
  reply
    .header("content-type", "text/html; charset=utf-8")
    .header("cache-control", "no-store")
    .header("content-language", locale)
    .header("vary", "accept-language");
  return posPage(locale, config);
}
