import { existsSync, readFileSync } from "node:fs";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { requireMerchant } from "../api/auth.ts";
import type { AppDeps, WebDeps } from "../api/deps.ts";
import { CurrencyField, ErrorSchema, IdempotencyHeaders } from "../api/schemas.ts";
import {
  clearSessionCookie,
  setSessionCookie,
  setSiweClientCookie,
  siweClientToken,
  terminalKeyOf,
  type CookiePolicy,
} from "../api/session-auth.ts";
import { badRequest, DomainError, notFound, unauthorized, unavailable } from "../lib/errors.ts";
import { newSiweClientToken, SIWE_CLIENT_MS } from "../merchants/web-sessions.ts";
import { parseHttpUrl } from "../lib/url.ts";
import { parseMerchantAddress } from "../orders/service.ts";
import { orderToJson } from "../orders/serialize.ts";
import { formatDecimal } from "../lib/money.ts";
import { getAddress } from "viem";
import { escapeHtml, htmlPage, scriptJson } from "./html.ts";
import {
  clientMessages,
  LOCALE_NAMES,
  LOCALES,
  pickLocale,
  translate,
  translator,
  type Locale,
} from "./i18n/index.ts";
import { consoleMessages, type ConsoleMessage } from "./i18n/messages/console.ts";
import { POS_BODY } from "./pos-page.ts";
import { consoleCallbacksMessages } from "./i18n/messages/console-callbacks.ts";

/**
 * The merchant console (/console) and the point-of-sale terminal (/pos): server-rendered shells,
 * one small script bundle each (built by scripts/build-web.ts with esbuild from ./client/*.ts,
 * with only the viem parts they use), and the JSON endpoints for signing in. Everything else they
 * show comes from the ordinary API (/user, /history, /order, /callbacks) with the session cookie.
 */

const DIST = new URL("./client/dist/", import.meta.url);

/** A built bundle, read on first use (the build writes it before the server starts). */
const bundles = new Map<string, string>();
function bundle(name: string): string {
  let body = bundles.get(name);
  if (body === undefined) {
    const file = new URL(name, DIST);
    if (!existsSync(file)) {
      throw unavailable(
        `the browser bundle ${name} is not built; run \`npm run build\` (npm start and npm test build it)`,
        "bundle_missing",
      );
    }
    body = readFileSync(file, "utf8");
    bundles.set(name, body);
  }
  return body;
}

function shell(title: string, script: string, config: unknown, body: string, lang?: Locale): string {
  return htmlPage({
    title: `${title} · Ethereum POS`,
    stylesheets: ["pay.css", "console.css"],
    ...(lang ? { lang } : {}),
    body: `${body}
<script type="application/json" id="config">${scriptJson(config)}</script>
<script type="module" src="/assets/${script}"></script>`,
  });
}

/** The console's sections, each at /console/<section> (the first is /console itself). */
export const CONSOLE_SECTIONS = [
  "overview",
  "orders",
  "subscriptions",
  "balances",
  "callbacks",
  "settings",
] as const;
export type ConsoleSection = (typeof CONSOLE_SECTIONS)[number];
const SECTION_NAV: Record<ConsoleSection, ConsoleMessage> = {
  overview: "navOverview",
  orders: "navOrders",
  subscriptions: "navSubscriptions",
  balances: "navBalances",
  callbacks: "navCallbacks",
  settings: "navSettings",
};

/**
 * The console's shell in `locale`: every section is in the page, the script shows the one the
 * address names (history.pushState keeps the back button working). Tables carry data-label
 * attributes on their cells (set by the script) so that below 600 px each row is a card.
 */
function consoleBody(locale: Locale): string {
  const t = translator(consoleMessages, locale);
  const h = (key: ConsoleMessage) => escapeHtml(t(key));
  const th = (...keys: ConsoleMessage[]) =>
    `<thead><tr>${keys.map((k) => (k === "thAction" ? `<th scope="col"><span class="sr-only">${h(k)}</span></th>` : `<th scope="col">${h(k)}</th>`)).join("")}</tr></thead><tbody></tbody>`;
  const statuses = ["pending", "success", "complete", "expired", "refunded"] as const;
  return `<main class="console" aria-labelledby="console-title">
  <header class="bar">
    <p class="brand"><span class="logo" aria-hidden="true"></span><span id="console-title">${h("title")}</span></p>
    <p id="who" class="who" hidden><span id="who-name"></span> <span id="who-address" class="muted"></span>
      <button id="sign-out" type="button" class="link">${h("signOut")}</button></p>
  </header>
  <p id="notice" class="notice" role="status" aria-live="polite"></p>
  <p id="error" class="wallet-error" role="alert"></p>

  <section id="signin" class="panel" aria-labelledby="signin-title" hidden>
    <h1 id="signin-title">${h("signinTitle")}</h1>
    <p>${h("signinBody")}</p>
    <button id="siwe" class="primary" type="button">${h("signinWallet")}</button>
    <form id="apikey-form" class="row">
      <label for="apikey">${h("apiKey")}</label>
      <input id="apikey" name="apikey" type="password" autocomplete="off" placeholder="epos_…" required>
      <button type="submit" class="secondary-button">${h("signinApiKey")}</button>
    </form>
  </section>

  <div id="app" hidden>
    <nav class="tabs" aria-label="${h("navLabel")}">
      <ul>${CONSOLE_SECTIONS.map((section) => `<li><a href="/console/${section}" data-section="${section}">${h(SECTION_NAV[section])}</a></li>`).join("")}</ul>
    </nav>

    <div data-section="overview" id="section-overview" hidden>
      <section class="panel totals" aria-label="${h("navOverview")}">
        <div class="total"><h2 id="today-title">${h("todayTitle")}</h2><p id="today-total" class="figure" aria-labelledby="today-title"></p><p id="today-orders" class="muted small"></p></div>
        <div class="total"><h2 id="month-title">${h("monthTitle")}</h2><p id="month-total" class="figure" aria-labelledby="month-title"></p><p id="month-orders" class="muted small"></p></div>
        <div class="total"><h2 id="waiting-count-title">${h("waitingCountTitle")}</h2><p id="waiting-count" class="figure" aria-labelledby="waiting-count-title"></p></div>
      </section>
      <section class="panel" aria-labelledby="income-title">
        <h2 id="income-title">${h("incomeTitle")}</h2>
        <p id="income-note" class="muted small"></p>
        <figure id="income-chart" class="chart"></figure>
        <ul id="income-legend" class="legend"></ul>
      </section>
      <section class="panel" aria-labelledby="waiting-title">
        <h2 id="waiting-title">${h("waitingTitle")}</h2>
        <table id="waiting" class="cards">${th("thOrder", "thCreated", "thExpires", "thAmount", "thValue")}</table>
      </section>
      <section class="panel" aria-labelledby="due-title">
        <h2 id="due-title">${h("dueTitle")}</h2>
        <table id="due" class="cards">${th("thSubscription", "thAmount", "thStatus", "thDue")}</table>
      </section>
      <section class="panel" aria-labelledby="rates-title">
        <h2 id="rates-title">${h("ratesTitle")}</h2>
        <table id="rates" class="cards">${th("thCoin", "thRate", "thSource")}</table>
      </section>
    </div>

    <div data-section="orders" id="section-orders" hidden>
      <section class="panel" aria-labelledby="orders-title">
        <h2 id="orders-title">${h("ordersTitle")}</h2>
        <form id="order-filter" class="row">
          <label for="status-filter">${h("statusLabel")}</label>
          <select id="status-filter"><option value="">${h("statusAll")}</option>${statuses.map((s) => `<option value="${s}">${h(`status_${s}`)}</option>`).join("")}</select>
          <label for="order-search">${h("orderSearch")}</label>
          <input id="order-search" inputmode="numeric" pattern="[0-9]*" placeholder="${h("orderSearchPlaceholder")}">
          <button type="submit" class="secondary-button">${h("show")}</button>
        </form>
        <table id="orders" class="cards">${th("thOrder", "thCreated", "thAmount", "thValue", "thStatus", "thAction")}</table>
      </section>
    </div>

    <div data-section="subscriptions" id="section-subscriptions" hidden>
      <section class="panel" aria-labelledby="subs-title" id="subscriptions">
        <h2 id="subs-title">${h("subsTitle")}</h2>
        <table id="subs" class="cards">${th("thSubscription", "thAmount", "thStatus", "thPaidThrough", "thPayTo", "thAction")}</table>
        <p id="subs-body" class="muted small"></p>
      </section>
    </div>

    <div data-section="balances" id="section-balances" hidden>
      <section class="panel" aria-labelledby="balances-title">
        <h2 id="balances-title">${h("balancesTitle")}</h2>
        <table id="balances" class="cards">${th("thAddress", "thToken", "thBalance", "thValue", "thAction")}</table>
      </section>
      <section class="panel" aria-labelledby="deposits-title">
        <h2 id="deposits-title">${h("depositsTitle")}</h2>
        <p class="muted">${h("depositsBody")}</p>
        <table id="deposits" class="cards">${th("thDepositAddress", "thToken", "thAmount", "thValue")}</table>
        <div id="sweeps" class="row"></div>
      </section>
    </div>

    <div data-section="callbacks" id="section-callbacks" hidden>
      <section class="panel" aria-labelledby="callbacks-title">
        <h2 id="callbacks-title">${h("callbacksTitle")}</h2>
        <table id="callbacks" class="cards">${th("thOrder", "thStatus", "thDelivery", "thAction")}</table>
        <div id="callback-tools"><script type="application/json" id="callbacks-messages">${scriptJson(consoleCallbacksMessages)}</script></div>
      </section>
      <section class="panel" aria-labelledby="secret-title">
        <h2 id="secret-title">${h("secretTitle")}</h2>
        <p>${h("secretBody")}</p>
        <div class="row">
          <label for="overlap">${h("overlap")}</label>
          <select id="overlap"><option value="24">${h("overlap24")}</option><option value="1">${h("overlap1")}</option><option value="168">${h("overlap168")}</option><option value="0">${h("overlap0")}</option></select>
          <button id="rotate-secret" type="button" class="secondary-button">${h("rotateSecret")}</button>
        </div>
        <p id="secret-box" hidden><code id="secret-value"></code> <span id="secret-note" class="muted small"></span></p>
      </section>
    </div>

    <div data-section="settings" id="section-settings" hidden>
      <section class="panel" aria-labelledby="wallet-title" id="wallet-panel">
        <h2 id="wallet-title">${h("walletTitle")}</h2>
        <p id="wallet-state" class="wrap">${h("walletNone")}</p>
        <p class="muted small">${h("walletLinkHint")}</p>
        <div class="row">
          <label for="link-key">${h("apiKey")}</label>
          <input id="link-key" type="password" autocomplete="off" placeholder="epos_…">
          <button id="connect" class="secondary-button" type="button">${h("connect")}</button>
        </div>
      </section>
      <section class="panel" aria-labelledby="linked-title">
        <h2 id="linked-title">${h("linkedTitle")}</h2>
        <p class="muted small">${h("linkedBody")}</p>
        <table id="linked" class="cards">${th("thAddress", "thLinked", "thAction")}</table>
        <button id="sign-out-everywhere" type="button" class="secondary-button">${h("signOutEverywhere")}</button>
      </section>
      <section class="panel" aria-labelledby="plan-title">
        <h2 id="plan-title">${h("planTitle")}</h2>
        <p id="plan"></p>
      </section>
      <section class="panel" aria-labelledby="exports-title" id="exports">
        <h2 id="exports-title">${h("exportsTitle")}</h2>
        <p class="muted small">${h("exportsBody")}</p>
        <div class="row">
          <label for="export-from">${h("exportFrom")}</label>
          <input id="export-from" type="date">
          <label for="export-through">${h("exportThrough")}</label>
          <input id="export-through" type="date">
        </div>
        <p id="export-note" class="muted small" role="status" aria-live="polite"></p>
        <ul id="export-links" class="export-links">
          <li><a data-export="orders" href="/export/orders.csv" download>${h("exportOrders")}</a></li>
          <li><a data-export="payments" href="/export/payments.csv" download>${h("exportPayments")}</a></li>
          <li><a data-export="refunds" href="/export/refunds.csv" download>${h("exportRefunds")}</a></li>
          <li><a data-export="withdrawals" href="/export/withdrawals.csv" download>${h("exportWithdrawals")}</a></li>
          <li><a data-export="sweeps" href="/export/sweeps.csv" download>${h("exportSweeps")}</a></li>
          <li><a data-export="subscription-periods" href="/export/subscription-periods.csv" download>${h("exportPeriods")}</a></li>
        </ul>
      </section>
      <section class="panel" aria-labelledby="notifications-title">
        <h2 id="notifications-title">${h("notificationsTitle")}</h2>
        <p class="muted small">${h("notificationsBody")}</p>
        <p id="notifications" class="wrap"></p>
      </section>
      <section class="panel" aria-labelledby="language-title">
        <h2 id="language-title">${h("languageTitle")}</h2>
        <div class="row">
          <label for="language">${h("languageLabel")}</label>
          <select id="language">${LOCALES.map((l) => `<option value="${l}" lang="${l}"${l === locale ? " selected" : ""}>${escapeHtml(LOCALE_NAMES[l])}</option>`).join("")}</select>
        </div>
        <p class="muted small">${h("languageNote")}</p>
      </section>
    </div>
  </div>

  <dialog id="preview" aria-labelledby="preview-title">
    <form method="dialog" id="preview-form">
      <h2 id="preview-title">${h("confirmTitle")}</h2>
      <dl>
        <dt>${h("pvAction")}</dt><dd id="pv-action"></dd>
        <dt>${h("pvChain")}</dt><dd id="pv-chain"></dd>
        <dt>${h("pvToken")}</dt><dd id="pv-token"></dd>
        <dt><label for="pv-amount">${h("pvAmount")}</label></dt><dd><input id="pv-amount" inputmode="decimal" required></dd>
        <dt>${h("pvValue")}</dt><dd id="pv-value"></dd>
        <dt><label for="pv-to">${h("pvRecipient")}</label></dt><dd><input id="pv-to" required spellcheck="false"></dd>
        <dt>${h("pvFrom")}</dt><dd id="pv-from"></dd>
      </dl>
      <p id="pv-chain-warning" class="warning" hidden></p>
      <p id="pv-status" role="status" aria-live="polite"></p>
      <p id="pv-error" class="wallet-error" role="alert"></p>
      <div class="row">
        <button id="pv-switch" type="button" class="secondary-button" hidden>${h("switchNetwork")}</button>
        <button id="pv-confirm" type="button" class="primary">${h("signInWallet")}</button>
        <button id="pv-close" type="button" class="secondary-button">${h("close")}</button>
      </div>
    </form>
  </dialog>
</main>`;
}

export const consoleRoutes: FastifyPluginAsyncTypebox<{
  deps: AppDeps;
  web: WebDeps;
  cookies: CookiePolicy;
}> = async (app, { deps, web, cookies }) => {
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 409: ErrorSchema };
  const Session = Type.Object({
    kind: Type.String(),
    email: Type.Union([Type.String(), Type.Null()], {
      description: "The merchant's email; null for a terminal, which is not shown it",
    }),
    label: Type.Optional(Type.String({ description: "A terminal's label (terminal sessions only)" })),
    display_name: Type.Union([Type.String(), Type.Null()]),
    address: Type.Union([Type.String(), Type.Null()]),
    expires_at: Type.String({ format: "date-time" }),
  });
  const sessionJson = async (request: FastifyRequest) => {
    const session = request.webSession;
    if (!session) throw unauthorized("not signed in: sign in at /console");
    const terminal = session.kind === "terminal";
    return {
      kind: session.kind,
      email: terminal ? null : session.merchant.email,
      ...(terminal ? { label: session.terminal?.label ?? "" } : {}),
      display_name: await web.displayName(session.merchant.id),
      address: session.address,
      expires_at: session.expiresAt.toISOString(),
    };
  };
  /**
   * What a SIWE message must name: the configured console (CONSOLE_ORIGIN, else PUBLIC_URL),
   * never the request's Host header, which anyone can set (R2-1).
   */
  const consoleSite = { domain: new URL(cookies.origin).host, origin: cookies.origin };
  const opened = async (
    request: FastifyRequest,
    reply: FastifyReply,
    session: { token: string; expiresAt: Date },
  ) => {
    setSessionCookie(reply, cookies, session.token, session.expiresAt);
    const now = await web.sessions.byToken(session.token);
    if (!now) throw unauthorized("the session could not be opened");
    request.webSession = now;
    return sessionJson(request);
  };

  const pageConfig = () => ({
    chains: web.chains,
    domain: consoleSite.domain,
    origin: consoleSite.origin,
    recurring: app.hasRoute({ method: "GET", url: "/recurring" }),
  });

  /**
   * The console's language: ?lang=, then Accept-Language, then English. The merchant's default
   * language (the profile setting) slots in as pickLocale's fallback once the profile has one.
   */
  const consolePage = (request: FastifyRequest, lang: string | undefined, reply: FastifyReply) => {
    const locale = pickLocale({
      query: lang ?? null,
      acceptLanguage: request.headers["accept-language"] ?? null,
    });
    reply
      .header("content-type", "text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .header("content-language", locale)
      .header("vary", "accept-language");
    const config = {
      ...pageConfig(),
      locale,
      sections: CONSOLE_SECTIONS,
      messages: clientMessages(consoleMessages, locale),
    };
    return shell(
      translate(consoleMessages, locale, "title"),
      "console.js",
      config,
      consoleBody(locale),
      locale,
    );
  };
  const PageQuery = Type.Object({ lang: Type.Optional(Type.String({ maxLength: 35 })) });
  app.get(
    "/console",
    { config: { nonJson: true }, schema: { hide: true, querystring: PageQuery } },
    async (request, reply) => consolePage(request, request.query.lang, reply),
  );
  // Each section has its own address, served by the same shell; an unknown one is a 404.
  app.get(
    "/console/:section",
    {
      config: { nonJson: true },
      schema: {
        hide: true,
        querystring: PageQuery,
        params: Type.Object({ section: Type.String({ maxLength: 40 }) }),
      },
    },
    async (request, reply) => {
      const { section } = request.params;
      if (!(CONSOLE_SECTIONS as readonly string[]).includes(section))
        throw notFound(`the console has no section "${section}": it has ${CONSOLE_SECTIONS.join(", ")}`);
      return consolePage(request, request.query.lang, reply);
    },
  );

  app.get(
    "/console/siwe/nonce",
    {
      schema: {
        tags: ["console"],
        summary:
          "A single-use nonce for a Sign-In with Ethereum (EIP-4361) message, bound to this browser (a pre-session cookie)",
        response: {
          200: Type.Object({
            nonce: Type.String(),
            domain: Type.String({ description: "The message's domain" }),
            uri: Type.String({ description: "The message's URI: the console's origin" }),
            chain_ids: Type.Array(Type.Integer(), { description: "The chain ids a message may name" }),
          }),
        },
      },
    },
    async (request, reply) => {
      reply.header("cache-control", "no-store");
      const client = siweClientToken(request, cookies) ?? newSiweClientToken();
      setSiweClientCookie(reply, cookies, client, SIWE_CLIENT_MS);
      const { nonce } = await web.sessions.nonce(client);
      return {
        nonce,
        domain: consoleSite.domain,
        uri: consoleSite.origin,
        chain_ids: web.chains.map((c) => c.chainId),
      };
    },
  );

  app.post(
    "/console/siwe",
    {
      config: { credentialsInBody: true },
      schema: {
        tags: ["console"],
        summary:
          "Sign in with Ethereum: the signed EIP-4361 message opens a console session (cookie). Signed in already, it links a new wallet to the account, with a re-authentication: api_key, or reauth signed by a wallet already linked.",
        body: Type.Object(
          {
            message: Type.String({ maxLength: 4000 }),
            signature: Type.String({ maxLength: 1024 }),
            api_key: Type.Optional(
              Type.String({ maxLength: 200, description: "Linking a new wallet: the API key again" }),
            ),
            reauth: Type.Optional(
              Type.Object(
                { message: Type.String({ maxLength: 4000 }), signature: Type.String({ maxLength: 1024 }) },
                {
                  additionalProperties: false,
                  description:
                    "Linking a new wallet: a SIWE message of its own (its own nonce) signed by a wallet already linked",
                },
              ),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Session, ...errors },
      },
    },
    async (request, reply) => {
      const session = await web.sessions.signInWithEthereum(
        request.body,
        siweClientToken(request, cookies),
        request.webSession,
      );
      return opened(request, reply, session);
    },
  );

  app.post(
    "/console/session",
    {
      config: { credentialsInBody: true },
      schema: {
        tags: ["console"],
        summary: "Open a console session with the API key (or a terminal session with a terminal key)",
        body: Type.Object(
          {
            api_key: Type.Optional(Type.String({ maxLength: 200 })),
            terminal_key: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Session, ...errors },
      },
    },
    async (request, reply) => {
      const { api_key, terminal_key } = request.body;
      if (api_key) return opened(request, reply, await web.sessions.signInWithApiKey(api_key));
      if (terminal_key) return opened(request, reply, await web.sessions.signInWithTerminalKey(terminal_key));
      throw unauthorized("send api_key (console) or terminal_key (point of sale)");
    },
  );

  // Whether this browser is signed in: 200 either way (a page asking is not an error).
  app.get(
    "/console/session",
    {
      schema: {
        tags: ["console"],
        summary: "The browser session, or signed_in false",
        response: {
          200: Type.Object({ signed_in: Type.Boolean(), session: Type.Union([Session, Type.Null()]) }),
        },
      },
    },
    async (request, reply) => {
      reply.header("cache-control", "no-store");
      return request.webSession
        ? { signed_in: true, session: await sessionJson(request) }
        : { signed_in: false, session: null };
    },
  );

  // The console's search by order id or on-chain reference: this merchant's order, or null (never
  // another's). The merchant refund task looks a reference up here too, before anything is signed.
  app.get(
    "/console/orders/:id",
    {
      schema: {
        tags: ["console"],
        summary:
          "One of your orders by id or by its on-chain reference (0x + 64 hex digits), or null when this account has no such order",
        params: Type.Object({ id: Type.String({ pattern: "^([0-9]{1,16}|0x[0-9a-fA-F]{64})$" }) }),
        response: { 200: Type.Object({ order: Type.Union([Type.Ref("Order"), Type.Null()]) }), ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const { id } = request.params;
      try {
        const order = id.startsWith("0x")
          ? await deps.orders.getByReference(id, merchant)
          : await deps.orders.get(BigInt(id), merchant);
        return { order: orderToJson(order, deps.config.publicUrl, deps.indexedBlock(order.chain_id)) };
      } catch (error) {
        if (error instanceof DomainError && (error.kind === "not_found" || error.kind === "forbidden"))
          return { order: null };
        throw error;
      }
    },
  );

  app.delete(
    "/console/session",
    {
      schema: {
        tags: ["console"],
        summary: "Sign out",
        response: { 200: Type.Object({ ok: Type.Boolean() }) },
      },
    },
    async (request, reply) => {
      if (request.webSessionToken) await web.sessions.signOut(request.webSessionToken);
      clearSessionCookie(reply, cookies);
      return { ok: true };
    },
  );

  // "Sign out everywhere": every console session of the account ends, this one too (R2-3).
  app.delete(
    "/user/sessions",
    {
      schema: {
        tags: ["user"],
        summary:
          "Sign out everywhere: end every console session of this account (terminals stay; revoke their keys)",
        response: { 200: Type.Object({ ended: Type.Integer() }), ...errors },
      },
    },
    async (request, reply) => {
      const merchant = requireMerchant(request);
      const ended = await web.sessions.signOutEverywhere(merchant.id);
      if (request.webSessionToken) clearSessionCookie(reply, cookies);
      return { ended };
    },
  );

  app.put(
    "/user/display-name",
    {
      schema: {
        tags: ["user"],
        summary: "Set the name customers see on the payment page (empty clears it)",
        body: Type.Object({ display_name: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ display_name: Type.Union([Type.String(), Type.Null()]) }), ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      return { display_name: await web.setDisplayName(merchant.id, request.body.display_name) };
    },
  );

  // Deposits waiting to be swept into the contract (payments by plain transfer, confirmed): the
  // console offers to sweep them with the merchant's wallet (sweepDeposits is open to anyone).
  app.get(
    "/console/deposits",
    {
      schema: {
        tags: ["console"],
        summary: "Your confirmed deposits not yet swept into the payment contract, on every chain",
        response: {
          200: Type.Object({
            deposits: Type.Array(
              Type.Object({
                chain_id: Type.Integer({ description: "The chain whose contract it is swept into" }),
                address: Type.String(),
                merchant: Type.String(),
                order_ref: Type.String(),
                token: Type.String({ description: "Symbol" }),
                token_address: Type.String(),
                amount: Type.String(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const list = await web.depositsWaiting(merchant.id);
      const info = (chainId: number, token: string) =>
        BigInt(token) === 0n
          ? { symbol: "ETH", decimals: 18 }
          : (web.chains
              .find((c) => c.chainId === chainId)
              ?.tokens.find((t) => t.address.toLowerCase() === token.toLowerCase()) ?? {
              symbol: token,
              decimals: 0,
            });
      return {
        deposits: list.map((d) => {
          const chainId = Number(d.chainId);
          const token = info(chainId, d.token);
          return {
            chain_id: chainId,
            address: getAddress(d.address),
            merchant: getAddress(d.merchant),
            order_ref: d.orderRef,
            token: token.symbol,
            token_address: getAddress(d.token),
            amount: formatDecimal(d.amount, token.decimals),
          };
        }),
      };
    },
  );

  app.post(
    "/user/callback-secret",
    {
      schema: {
        tags: ["user"],
        summary:
          "Rotate the callback signing secret: the new secret is shown this once; the previous one keeps signing beside it for overlap_hours",
        body: Type.Object(
          { overlap_hours: Type.Optional(Type.Integer({ minimum: 0, maximum: 168, default: 24 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            secret: Type.String(),
            previous_valid_until: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const merchant = requireMerchant(request);
      const hours = request.body.overlap_hours ?? 24;
      const rotated = await web.rotateCallbackSecret(merchant.id, hours * 3600);
      reply.header("cache-control", "no-store");
      return {
        secret: rotated.secret,
        previous_valid_until: rotated.previousValidUntil?.toISOString() ?? null,
      };
    },
  );

  const TerminalKey = Type.Object({
    id: Type.Integer(),
    label: Type.String(),
    prefix: Type.String(),
    created_at: Type.String({ format: "date-time" }),
  });
  app.post(
    "/user/terminal-keys",
    {
      schema: {
        tags: ["user"],
        summary:
          "Create a terminal key for the point of sale (/pos): it can only create orders and read their status. Shown once.",
        body: Type.Object(
          {
            label: Type.String({ maxLength: 200, description: 'e.g. "Front counter"' }),
            address: Type.String({
              maxLength: 64,
              description: "The proven payout address the terminal's orders pay",
            }),
            callback: Type.String({
              maxLength: 2048,
              description: "The callback URL of the terminal's orders",
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ id: Type.Integer(), label: Type.String(), key: Type.String() }),
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const created = await web.sessions.createTerminalKey(merchant.id, {
        label: request.body.label,
        payoutAddress: parseMerchantAddress(request.body.address),
        callback: parseHttpUrl(request.body.callback, "callback"),
      });
      return { id: Number(created.id), label: created.label, key: created.key };
    },
  );
  app.get(
    "/user/terminal-keys",
    {
      schema: {
        tags: ["user"],
        summary: "The account's terminal keys (without the keys themselves)",
        response: { 200: Type.Object({ keys: Type.Array(TerminalKey) }), ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const keys = await web.sessions.listTerminalKeys(merchant.id);
      return {
        keys: keys.map((k) => ({
          id: Number(k.id),
          label: k.label,
          prefix: k.prefix,
          created_at: k.createdAt.toISOString(),
        })),
      };
    },
  );
  app.delete(
    "/user/terminal-keys/:id",
    {
      schema: {
        tags: ["user"],
        summary: "Revoke a terminal key; its terminals are signed out",
        params: Type.Object({ id: Type.String({ pattern: "^[0-9]{1,18}$" }) }),
        response: { 200: Type.Object({ revoked: Type.Boolean() }), ...errors, 404: ErrorSchema },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      if (!(await web.sessions.revokeTerminalKey(merchant.id, BigInt(request.params.id))))
        throw notFound(`no terminal key ${request.params.id}`);
      return { revoked: true };
    },
  );

  // The point of sale's order: a terminal's orders pay its key's payout address and call back its
  // URL; a merchant signed in to the console names both.
  app.post(
    "/pos/order",
    {
      config: { idempotent: true },
      schema: {
        tags: ["console"],
        summary: "Create an order from the point of sale (terminal or console session)",
        body: Type.Object(
          {
            amount: Type.String({
              minLength: 1,
              maxLength: 32,
              description: 'In `currency` (default USD), e.g. "4.50"',
            }),
            currency: Type.Optional(CurrencyField),
            token: Type.Optional(Type.String({ maxLength: 11 })),
            chain: Type.Optional(Type.String({ maxLength: 40 })),
            item_title: Type.Optional(Type.String({ maxLength: 200 })),
            address: Type.Optional(Type.String({ maxLength: 64 })),
            callback: Type.Optional(Type.String({ maxLength: 2048 })),
          },
          { additionalProperties: false },
        ),
        headers: IdempotencyHeaders,
        response: { 200: Type.Ref("Order"), ...errors, 422: ErrorSchema },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const terminal = request.webSession?.terminal ?? null;
      const { amount, currency, token, chain, item_title } = request.body;
      const address = terminal?.payoutAddress ?? request.body.address;
      const callback = terminal?.callback ?? request.body.callback;
      if (!address || !callback) {
        throw badRequest(
          "address (your payout address) and callback are needed; a terminal key carries both",
          "missing_order_settings",
        );
      }
      const order = await deps.orders.create(
        { amount, currency, token, chain, item_title, address, callback },
        merchant,
        terminalKeyOf(request),
      );
      return orderToJson(order, deps.config.publicUrl, deps.indexedBlock(order.chain_id));
    },
  );

  app.get("/pos", { config: { nonJson: true }, schema: { hide: true } }, async (_request, reply) => {
    reply.header("content-type", "text/html; charset=utf-8").header("cache-control", "no-store");
    return shell("Point of sale", "pos.js", pageConfig(), POS_BODY);
  });

  const ASSETS: Record<string, string> = {
    "console.js": "text/javascript; charset=utf-8",
    "pos.js": "text/javascript; charset=utf-8",
  };
  for (const [name, type] of Object.entries(ASSETS)) {
    app.get(
      `/assets/${name}`,
      { config: { nonJson: true }, schema: { hide: true } },
      async (_request, reply) => {
        reply.header("content-type", type).header("cache-control", "no-cache");
        return bundle(name);
      },
    );
  }
  app.get(
    "/assets/console.css",
    { config: { nonJson: true }, schema: { hide: true } },
    async (_request, reply) => {
      reply.header("content-type", "text/css; charset=utf-8").header("cache-control", "no-cache");
      return CONSOLE_CSS;
    },
  );
};

const CONSOLE_CSS = readFileSync(new URL("./client/console.css", import.meta.url), "utf8");
