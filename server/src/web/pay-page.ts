import { readFileSync } from "node:fs";
import QRCode from "qrcode";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps } from "../api/deps.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { notFound } from "../lib/errors.ts";
import { payView, type PayView } from "./pay-view.ts";

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

/** JSON inside <script type="application/json">: no "<" may end the element early. */
const scriptJson = (value: unknown) =>
  JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");

export async function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: "svg", errorCorrectionLevel: "M", margin: 2, width: 320 });
}

/**
 * The page's own script, styles and calldata encoder, served same-origin (the CSP allows
 * scripts from 'self' only). Plain files in ./client, read once at start-up; no bundler.
 */
const ASSETS: Record<string, { type: string; body: string }> = Object.fromEntries(
  [
    ["pay.js", "text/javascript; charset=utf-8"],
    ["abi.js", "text/javascript; charset=utf-8"],
    ["pay.css", "text/css; charset=utf-8"],
  ].map(([name, type]) => [
    name,
    { type: type as string, body: readFileSync(new URL(`./client/${name}`, import.meta.url), "utf8") },
  ]),
);

const COPY_ICON = `<svg aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="16" height="16"><path fill="currentColor" d="M16 1H4a2 2 0 0 0-2 2v14h2V3h12V1zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11v14z"/></svg>`;

const STATUS_TEXT: Record<string, string> = {
  pending: "Waiting for payment",
  success: "Payment received, confirming",
  complete: "Payment complete",
  expired: "This order has expired",
  refunded: "This order was refunded",
};

function renderPage(view: PayView): string {
  const { json } = view;
  const title = json.item_title ? escapeHtml(json.item_title) : `Order ${json.id}`;
  const symbol = escapeHtml(view.symbol);
  const amount = escapeHtml(json.expected_amount);
  const network = `${escapeHtml(view.chainName)} <span class="muted">(chain id ${view.chainId})</span>`;
  const paid = json.status === "success" || json.status === "complete";
  const closed = paid || json.status === "expired" || json.status === "refunded";
  const what = view.token ? ` Send ${symbol} only: the token <code class="inline">${view.token}</code>.` : "";
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
    amount: view.amount,
    expected: json.expected_amount,
    expiresAt: json.expires_at,
    status: json.status,
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<title>Pay ${title} · Ethereum POS</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/pay.css">
</head>
<body>
<main class="sheet" aria-labelledby="title" data-order-id="${json.id}" data-expires-at="${json.expires_at}">
  <header class="head">
    <p class="brand"><span class="logo" aria-hidden="true"></span>Ethereum POS <span class="muted">· Order ${json.id}</span></p>
    <h1 id="title">${title}</h1>
    ${json.item_description ? `<p class="description">${escapeHtml(json.item_description)}</p>` : ""}
  </header>

  <section class="due" aria-label="Amount due">
    <p class="amount"><span id="expected">${amount}</span> <span class="symbol">${symbol}</span></p>
    <p class="fiat">$${escapeHtml(json.currency_amount)} USD at ${escapeHtml(json.eth_price)} USD/${symbol}</p>
    <p class="network">on ${network}</p>
  </section>

  <section class="state" data-status="${json.status}" id="state" aria-labelledby="status-message">
    <div class="state-line">
      <span class="pill" id="status" data-status="${json.status}">${json.status}</span>
      <span id="confirmations">${json.confirmations ? `${json.confirmations} confirmation${json.confirmations === 1 ? "" : "s"}` : ""}</span>
      <span class="countdown"${closed ? " hidden" : ""}>Expires in <time id="countdown">--:--</time></span>
    </div>
    <p id="status-message" role="status" aria-live="polite">${STATUS_TEXT[json.status] ?? json.status}</p>
    <p id="tx-line" class="tx"${json.transaction_id ? "" : " hidden"}>Transaction <code id="tx-hash">${escapeHtml(json.transaction_id)}</code></p>
  </section>

  <div id="options" class="options"${closed ? " hidden" : ""}>
    <section class="option" aria-labelledby="scan-title">
      <h2 id="scan-title">Scan or send to this address</h2>
      <img class="qr" id="qr" src="/order/${json.id}/qr.svg" width="320" height="320"
           alt="QR code: send ${amount} ${symbol} to ${view.address} on ${escapeHtml(view.chainName)}">
      <p class="hint">Send exactly <strong>${amount} ${symbol}</strong> on ${network} from any wallet or exchange.${what}</p>
      <div class="field">
        <span class="label" id="address-label">Address</span>
        <div class="copy-row">
          <code id="address" class="value" aria-labelledby="address-label">${view.address}</code>
          <button id="copy-address" class="copy" type="button" data-copy="${view.address}">${COPY_ICON}<span class="copy-text">Copy</span><span class="sr-only"> address</span></button>
        </div>
      </div>
      <div class="field">
        <span class="label" id="amount-label">Amount</span>
        <div class="copy-row">
          <code id="amount" class="value" aria-labelledby="amount-label">${amount} ${symbol}</code>
          <button id="copy-amount" class="copy" type="button" data-copy="${amount}">${COPY_ICON}<span class="copy-text">Copy</span><span class="sr-only"> amount</span></button>
        </div>
      </div>
      <p class="open"><a id="open-wallet" href="${escapeHtml(view.uri)}">Open in a wallet app</a></p>
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
        <dt>Network</dt><dd>${network}</dd>
        <dt>Pay to</dt><dd><code>${view.address}</code></dd>
        ${view.token ? `<dt>Token</dt><dd><code>${view.token}</code></dd>` : ""}
        <dt>Payment contract</dt><dd><code id="contract">${view.contract}</code></dd>
        <dt>Merchant</dt><dd><code>${view.merchant}</code></dd>
        <dt>Payment URI</dt><dd><code id="uri">${escapeHtml(view.uri)}</code></dd>
      </dl>
    </details>
    <p class="muted small">Payments go straight to the merchant's payment contract on chain. This page loads nothing from third parties.</p>
  </footer>
</main>
<script type="application/json" id="pay-data">${scriptJson(data)}</script>
<script type="module" src="/assets/pay.js"></script>
</body>
</html>`;
}

/** The hosted payment page and QR image. Generated locally; no third-party service sees an order. */
export const payPageRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const Params = Type.Object({ id: Type.String({ pattern: "^[0-9]{1,16}$" }) });

  // The page and the QR are public by order id, like an anonymous order's JSON: the id is the capability.
  async function load(id: string): Promise<OrderRow> {
    const order = await deps.payPage.order(BigInt(id));
    if (!order) throw notFound(`order ${id} was not found`, "order_not_found");
    return order;
  }
  const view = (order: OrderRow) => payView(order, deps.config.publicUrl, deps.indexedBlock(order.chain_id));

  app.get(
    "/order/:id/qr.svg",
    {
      config: { nonJson: true },
      schema: {
        tags: ["orders"],
        summary: "QR code (SVG) with the EIP-681 plain-transfer URI to the order's address",
        params: Params,
      },
    },
    async (request, reply) => {
      const order = await load(request.params.id);
      reply.header("content-type", "image/svg+xml").header("cache-control", "public, max-age=300");
      return qrSvg(view(order).uri);
    },
  );

  // What the payment page polls. Public by id like the page itself, so it also works for orders
  // made with an API key (GET /order/:id shows those only to their merchant), and it carries
  // nothing beyond what the page already shows.
  app.get(
    "/pay/:id/status",
    {
      schema: {
        tags: ["orders"],
        summary: "Payment page status: the order's status and confirmations, public by order id",
        params: Params,
        response: {
          200: Type.Object({
            id: Type.Integer(),
            status: Type.String(),
            confirmations: Type.Integer(),
            paid: Type.Boolean(),
            expired: Type.Boolean(),
            expires_at: Type.String({ format: "date-time" }),
            exception: Type.Union([Type.String(), Type.Null()]),
            amount_paid: Type.String(),
            transaction_id: Type.String(),
            chain_id: Type.Integer(),
            address: Type.String({ description: "Where a plain transfer pays the order" }),
            contract: Type.String({ description: "The payment contract (pay / payToken)" }),
          }),
          404: Type.Ref("Error"),
        },
      },
    },
    async (request, reply) => {
      const v = view(await load(request.params.id));
      reply.header("cache-control", "no-store");
      return {
        id: v.json.id,
        status: v.json.status,
        confirmations: v.json.confirmations,
        paid: v.json.paid,
        expired: v.json.expired,
        expires_at: v.json.expires_at,
        exception: v.json.exception,
        amount_paid: v.json.amount_paid,
        transaction_id: v.json.transaction_id,
        chain_id: v.chainId,
        address: v.address,
        contract: v.contract,
      };
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
      reply.header("content-type", "text/html; charset=utf-8").header("cache-control", "no-store");
      return renderPage(view(order));
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
