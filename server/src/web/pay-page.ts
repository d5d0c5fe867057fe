import { readFileSync } from "node:fs";
import QRCode from "qrcode";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps, PayPageDeps } from "../api/deps.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { notFound } from "../lib/errors.ts";
import { escapeHtml, htmlPage, scriptJson } from "./html.ts";
import { createPayEventHub, createStreamLimits } from "./pay-events.ts";
import { withPayMethods } from "./pay-methods.ts";
import { payState, payView, type PayState, type PayView } from "./pay-view.ts";

export async function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: "svg", errorCorrectionLevel: "M", margin: 2, width: 320 });
}

/**
 * The pages' own scripts, styles, calldata encoder and wallet helpers, served same-origin (the
 * CSP allows scripts from 'self' only). Plain files in ./client, read once at start-up; no
 * bundler: pay.js and subscription.js import abi.js and injected-wallets.js as ES modules.
 */
const ASSETS: Record<string, { type: string; body: string }> = Object.fromEntries(
  [
    ["pay.js", "text/javascript; charset=utf-8"],
    ["abi.js", "text/javascript; charset=utf-8"],
    ["injected-wallets.js", "text/javascript; charset=utf-8"],
    ["subscription.js", "text/javascript; charset=utf-8"],
    ["pay.css", "text/css; charset=utf-8"],
    ["pay-methods.js", "text/javascript; charset=utf-8"],
    ["pay-methods.css", "text/css; charset=utf-8"],
  ].map(([name, type]) => [
    name,
    { type: type as string, body: readFileSync(new URL(`./client/${name}`, import.meta.url), "utf8") },
  ]),
);

const COPY_ICON = `<svg aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="16" height="16"><path fill="currentColor" d="M16 1H4a2 2 0 0 0-2 2v14h2V3h12V1zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11v14z"/></svg>`;

const CHECK_ICON = `<svg aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="56" height="56"><circle cx="12" cy="12" r="11" fill="currentColor"/><path d="M6.5 12.5l3.5 3.5 7.5-8" fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const CLOCK_ICON = `<svg aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="56" height="56"><circle cx="12" cy="12" r="11" fill="currentColor"/><path d="M12 6v6l4 2.5" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round"/></svg>`;

/** The QR image's address: the query changes with what is still due, so a cached image never shows an old amount. */
const qrSrc = (state: PayState) => `/order/${state.id}/qr.svg?due=${state.remaining_units}`;

function renderPage(view: PayView, state: PayState, merchantName: string | null): string {
  const { json } = view;
  const title = json.item_title ? escapeHtml(json.item_title) : `Order ${json.id}`;
  const symbol = escapeHtml(view.symbol);
  const fiatCode = escapeHtml(json.currency.toUpperCase());
  const due = escapeHtml(state.remaining);
  const network = `${escapeHtml(view.chainName)} <span class="muted">(chain id ${view.chainId})</span>`;
  const closed = state.status !== "pending";
  const partial = state.tone === "partial";
  const what = view.token ? ` Send ${symbol} only: the token <code class="inline">${view.token}</code>.` : "";
  const shop = merchantName ? escapeHtml(merchantName) : "";
  // Data for pay.js: everything it needs to call the contract through a browser wallet.
  const data = {
    id: view.id,
    chainId: view.chainId,
    chainName: view.chainName,
    address: view.address,
    contract: view.contract,
    merchant: view.merchant,
    orderRef: view.orderRef,
    token: view.token,
    symbol: view.symbol,
    decimals: view.decimals,
    state,
  };
  const image = json.item_image
    ? `<img class="item-image" src="${escapeHtml(json.item_image)}" alt="" width="72" height="72" referrerpolicy="no-referrer" decoding="async">`
    : "";
  return htmlPage({
    title: `Pay ${json.item_title || `Order ${json.id}`}${merchantName ? ` · ${merchantName}` : ""}`,
    stylesheets: ["pay.css"],
    body: `<main class="sheet" aria-labelledby="title" data-order-id="${json.id}" data-expires-at="${json.expires_at}">
  <header class="head">
    <p class="brand"><span class="logo" aria-hidden="true"></span>${shop ? `<span id="merchant-name">${shop}</span>` : "Ethereum POS"} <span class="muted">· Order ${json.id}</span></p>
    <div class="item">${image}<div>
      <h1 id="title">${title}</h1>
      ${json.item_description ? `<p class="description">${escapeHtml(json.item_description)}</p>` : ""}
    </div></div>
  </header>

  <section class="due" aria-label="Amount due">
    <p class="amount"><span id="expected">${escapeHtml(json.expected_amount)}</span> <span class="symbol">${symbol}</span></p>
    <p class="fiat">${json.currency === "usd" ? "$" : ""}${escapeHtml(json.currency_amount)} ${fiatCode} at ${escapeHtml(json.eth_price)} ${fiatCode}/${symbol}</p>
    <p class="network">on ${network}</p>
  </section>

  <section class="state" id="state" data-tone="${state.tone}" data-status="${state.status}" aria-labelledby="state-title">
    <div class="state-icon" aria-hidden="true"><span class="icon-paid">${CHECK_ICON}</span><span class="icon-wait">${CLOCK_ICON}</span></div>
    <div class="state-text">
      <p class="state-line"><span class="pill" id="status" data-status="${state.status}">${state.status}</span>
        <span class="countdown"${closed ? " hidden" : ""}>Expires in <time id="countdown" datetime="${json.expires_at}">--:--</time></span></p>
      <h2 id="state-title" role="status" aria-live="polite">${escapeHtml(state.title)}</h2>
      <p id="state-detail">${escapeHtml(state.detail)}</p>
      <div id="progress-row" class="progress-row"${state.confirmations_text ? "" : " hidden"}>
        <progress id="progress" max="${state.required_confirmations}" value="${Math.min(state.confirmations, state.required_confirmations)}" aria-labelledby="confirmations"></progress>
        <span id="confirmations">${escapeHtml(state.confirmations_text)}</span>
      </div>
      <p id="tx-line" class="tx"${state.transaction_id ? "" : " hidden"}>Transaction <code id="tx-hash">${escapeHtml(state.transaction_id)}</code></p>
      <p id="return-line" class="return"${state.return_url && state.paid ? "" : " hidden"}><a id="return-link" class="primary" href="${escapeHtml(state.return_url ?? "")}">Return to ${shop || "the shop"}</a> <span id="return-note" class="muted small"></span></p>
    </div>
  </section>

  <div id="options" class="options"${closed ? " hidden" : ""}>
    <section class="option" aria-labelledby="scan-title">
      <h2 id="scan-title">Scan or send to this address</h2>
      <img class="qr" id="qr" src="${qrSrc(state)}" width="320" height="320"
           alt="QR code: send ${due} ${symbol} to ${view.address} on ${escapeHtml(view.chainName)}">
      <p class="hint" id="send-hint">Send ${partial ? "the remaining" : "exactly"} <strong id="send-amount">${due} ${symbol}</strong> on ${network} from any wallet or exchange.${what}</p>
      <div class="field">
        <span class="label" id="address-label">Address</span>
        <div class="copy-row">
          <code id="address" class="value" aria-labelledby="address-label">${view.address}</code>
          <button id="copy-address" class="copy" type="button" data-copy="${view.address}">${COPY_ICON}<span class="copy-text">Copy</span><span class="sr-only"> address</span></button>
        </div>
      </div>
      <div class="field">
        <span class="label" id="amount-label">${partial ? "Still to pay" : "Amount"}</span>
        <div class="copy-row">
          <code id="amount" class="value" aria-labelledby="amount-label">${due} ${symbol}</code>
          <button id="copy-amount" class="copy" type="button" data-copy="${due}">${COPY_ICON}<span class="copy-text">Copy</span><span class="sr-only"> amount</span></button>
        </div>
      </div>
      <p class="open"><a id="open-wallet" class="secondary" href="${escapeHtml(state.uri)}">Open in wallet app</a></p>
    </section>

    <p class="or" aria-hidden="true"><span>or</span></p>

    <section class="option" aria-labelledby="wallet-title">
      <h2 id="wallet-title">Pay with browser wallet</h2>
      <p id="wallet-hint" class="hint">Looking for a wallet in this browser…</p>
      <div id="wallet-choice" hidden></div>
      <button id="wallet" class="primary" type="button" disabled>Pay with browser wallet</button>
      <p id="wallet-message" class="wallet-message" role="status" aria-live="polite"></p>
      <p id="wallet-error" class="wallet-error" role="alert"></p>
    </section>
  </div>

  <footer class="foot">
    <details>
      <summary>Payment details</summary>
      <dl>
        <dt>Order</dt><dd>${json.id}</dd>
        ${shop ? `<dt>Shop</dt><dd>${shop}</dd>` : ""}
        <dt>Network</dt><dd>${network}</dd>
        <dt>Pay to</dt><dd><code>${view.address}</code></dd>
        ${view.token ? `<dt>Token</dt><dd><code>${view.token}</code></dd>` : ""}
        <dt>Payment contract</dt><dd><code id="contract">${view.contract}</code></dd>
        <dt>Merchant</dt><dd><code>${view.merchant}</code></dd>
        <dt>Payment URI</dt><dd><code id="uri">${escapeHtml(state.uri)}</code></dd>
      </dl>
    </details>
    <p class="muted small">Payments go straight to the merchant's payment contract on chain. This page loads nothing from third parties.</p>
  </footer>
</main>
<script type="application/json" id="pay-data">${scriptJson(data)}</script>
<script type="module" src="/assets/pay.js"></script>`,
  });
}

/** The hosted payment page and QR image. Generated locally; no third-party service sees an order. */
export const payPageRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const Params = Type.Object({ id: Type.String({ pattern: "^[0-9]{1,16}$" }) });
  const pages: PayPageDeps = deps.payPage;

  // The page and the QR are public by order id, like an anonymous order's JSON: the id is the capability.
  async function load(id: string): Promise<OrderRow> {
    const order = await pages.order(BigInt(id));
    if (!order) throw notFound(`order ${id} was not found`, "order_not_found");
    return order;
  }
  const view = (order: OrderRow) => payView(order, deps.config.publicUrl, deps.indexedBlock(order.chain_id));
  const stateOf = (order: OrderRow) =>
    payState(view(order), order, pages.requiredConfirmations?.(order.chain_id) ?? 1);

  app.get(
    "/order/:id/qr.svg",
    {
      config: { nonJson: true },
      schema: {
        tags: ["orders"],
        summary:
          "QR code (SVG) with the EIP-681 plain-transfer URI to the order's address, for what is still due",
        params: Params,
      },
    },
    async (request, reply) => {
      const order = await load(request.params.id);
      // What is due changes after a partial payment: the image must not be cached past it.
      reply.header("content-type", "image/svg+xml").header("cache-control", "no-cache");
      return qrSvg(stateOf(order).uri);
    },
  );

  const StatusSchema = Type.Object({
    id: Type.Integer(),
    status: Type.String(),
    exception: Type.Union([Type.String(), Type.Null()]),
    tone: Type.String({ description: "waiting, partial, confirming, paid, expired or refunded" }),
    title: Type.String({ description: "The headline the page shows" }),
    detail: Type.String({ description: "What happened and what to do next, in a customer's words" }),
    confirmations: Type.Integer(),
    required_confirmations: Type.Integer(),
    confirmations_text: Type.String(),
    paid: Type.Boolean(),
    expired: Type.Boolean(),
    expires_at: Type.String({ format: "date-time" }),
    expected_amount: Type.String(),
    amount_paid: Type.String(),
    remaining: Type.String({ description: "Still to pay (decimal)" }),
    remaining_units: Type.String({ description: "Still to pay, in the smallest unit" }),
    uri: Type.String({ description: "EIP-681 URI for what is still to pay" }),
    transaction_id: Type.String(),
    return_url: Type.Union([Type.String(), Type.Null()]),
    chain_id: Type.Integer(),
    address: Type.String({ description: "Where a plain transfer pays the order" }),
    contract: Type.String({ description: "The payment contract (pay / payToken)" }),
  });

  // One look at the payment page's state. Public by id like the page itself, so it also works for
  // orders made with an API key (GET /order/:id shows those only to their merchant), and it carries
  // nothing beyond what the page already shows.
  app.get(
    "/pay/:id/status",
    {
      schema: {
        tags: ["orders"],
        summary: "Payment page status: the order's status and confirmations, public by order id",
        params: Params,
        response: { 200: StatusSchema, 404: Type.Ref("Error") },
      },
    },
    async (request, reply) => {
      reply.header("cache-control", "no-store");
      return stateOf(await load(request.params.id));
    },
  );

  // The page's updates, pushed as Server-Sent Events: an `event: status` with the state above at
  // once and on every change (status, confirmations, amount paid). The stream ends after a final
  // status; otherwise after pushMaxMs, and the browser's EventSource reconnects by itself. All
  // streams of one order share one poller (pay-events.ts), and each client (an IPv6 /64) and the
  // whole process may hold only so many streams at once: beyond that the answer is 429.
  const hub = createPayEventHub({
    order: (id) => pages.order(id),
    state: stateOf,
    intervalMs: pages.pushIntervalMs ?? 500,
    warn: (error) => app.log.warn({ err: error }, "payment page event stream stopped"),
  });
  const limits = createStreamLimits({
    perClient: pages.maxStreamsPerClient ?? 20,
    total: pages.maxStreams ?? 1000,
  });
  app.addHook("onClose", async () => hub.close());
  app.get(
    "/pay/:id/events",
    {
      config: { nonJson: true },
      schema: {
        tags: ["orders"],
        summary: "Payment page status pushed as Server-Sent Events (text/event-stream)",
        description:
          "429 too_many_streams when this client (an IPv6 /64) or the server holds its limit of open streams.",
        params: Params,
        response: { 404: Type.Ref("Error"), 429: Type.Ref("Error") },
      },
    },
    async (request, reply) => {
      const release = limits.acquire(request.ip);
      const maxMs = pages.pushMaxMs ?? 5 * 60_000;
      const res = reply.raw;
      let open = true;
      let lastWrite = Date.now();
      const write = (text: string) => {
        if (!open) return;
        res.write(text);
        lastWrite = Date.now();
      };
      let stop = () => {};
      let timers: NodeJS.Timeout[] = [];
      const end = () => {
        if (!open) return;
        open = false;
        for (const timer of timers) clearTimeout(timer);
        stop();
        release();
        res.end();
      };
      let started = false;
      try {
        stop = await hub.subscribe(BigInt(request.params.id), {
          state: (_state, text) => {
            if (!started) {
              // The first state: the order exists, the stream starts (a 404 is answered as JSON).
              started = true;
              reply.hijack();
              res.writeHead(200, {
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-store",
                "x-content-type-options": "nosniff",
                "x-accel-buffering": "no",
                connection: "keep-alive",
              });
              write("retry: 1000\n\n");
            }
            write(`event: status\ndata: ${text}\n\n`);
          },
          end: () => queueMicrotask(end),
        });
      } catch (error) {
        release();
        throw error;
      }
      if (!open) return reply;
      request.raw.on("close", end);
      timers = [
        setTimeout(end, maxMs),
        setInterval(() => {
          if (Date.now() - lastWrite > 15_000) write(": keep-alive\n\n"); // proxies close idle streams
        }, 5_000),
      ];
      return reply;
    },
  );

  app.get(
    "/pay/:id",
    {
      config: { nonJson: true },
      schema: { tags: ["orders"], summary: "Hosted payment page", params: Params },
    },
    async (request, reply) => {
      const order = await load(request.params.id);
      const name =
        order.merchant_id === null ? null : ((await pages.merchantName?.(order.merchant_id)) ?? null);
      reply.header("content-type", "text/html; charset=utf-8").header("cache-control", "no-store");
      return withPayMethods(renderPage(view(order), stateOf(order), name), deps, order, request);
    },
  );

  app.get(
    "/assets/:name",
    {
      config: { nonJson: true },
      schema: { hide: true, params: Type.Object({ name: Type.String({ maxLength: 32 }) }) },
    },
    async (request, reply) => {
      const asset = Object.hasOwn(ASSETS, request.params.name) ? ASSETS[request.params.name] : undefined;
      if (!asset) throw notFound(`no asset ${request.params.name}`);
      reply.header("content-type", asset.type).header("cache-control", "public, max-age=300");
      return asset.body;
    },
  );
};
