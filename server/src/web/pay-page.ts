import QRCode from "qrcode";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps } from "../api/deps.ts";
import { orderToJson, type OrderRow } from "../orders/serialize.ts";
import { paymentUri } from "../orders/payment-uri.ts";
import { notFound } from "../lib/errors.ts";

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

export async function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: "svg", errorCorrectionLevel: "M", margin: 2, width: 320 });
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

  app.get(
    "/order/:id/qr.svg",
    {
      config: { nonJson: true },
      schema: { tags: ["orders"], summary: "QR code (SVG) with the EIP-681 payment URI", params: Params },
    },
    async (request, reply) => {
      const order = await load(request.params.id);
      reply.header("content-type", "image/svg+xml").header("cache-control", "public, max-age=300");
      return qrSvg(paymentUri(order));
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
          }),
          404: Type.Ref("Error"),
        },
      },
    },
    async (request, reply) => {
      const order = await load(request.params.id);
      const json = orderToJson(order, deps.config.publicUrl, deps.indexedBlock(order.chain_id));
      reply.header("cache-control", "no-store");
      return {
        id: json.id,
        status: json.status,
        confirmations: json.confirmations,
        paid: json.paid,
        expired: json.expired,
        expires_at: json.expires_at,
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
      const json = orderToJson(order, deps.config.publicUrl, deps.indexedBlock(order.chain_id));
      const uri = paymentUri(order);
      const title = json.item_title ? escapeHtml(json.item_title) : `Order ${json.id}`;
      reply.header("content-type", "text/html; charset=utf-8");
      return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pay ${title} · Ethereum POS</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/pay.css">
</head>
<body>
<main class="card" data-order-id="${json.id}" data-expires-at="${json.expires_at}">
  <h1>${title}</h1>
  ${json.item_description ? `<p class="description">${escapeHtml(json.item_description)}</p>` : ""}
  <p class="amount"><span id="expected">${escapeHtml(json.expected_amount)}</span> ${escapeHtml(json.token)}</p>
  <p class="fiat">$${escapeHtml(json.currency_amount)} USD at ${escapeHtml(json.eth_price)} USD/${escapeHtml(json.token)}</p>
  <img class="qr" id="qr" src="/order/${json.id}/qr.svg" width="320" height="320" alt="QR code with the payment URI">
  <p class="status">Status: <strong id="status" data-status="${json.status}">${json.status}</strong>
     <span id="confirmations">${json.confirmations ? `(${json.confirmations} confirmations)` : ""}</span></p>
  <p class="countdown">Expires in <span id="countdown">--:--</span></p>
  <details><summary>Pay manually</summary>
    <p>Call <code>${BigInt(order.token) === 0n ? "pay(merchant, orderId)" : "payToken(token, amount, merchant, orderId)"}</code> on contract
       <code id="contract">${escapeHtml(json.address)}</code> (chain ${order.chain_id}).</p>
    <p>Merchant: <code>${escapeHtml(json.return_to)}</code></p>
    <p>Payment URI: <code id="uri">${escapeHtml(uri)}</code></p>
  </details>
  <button id="wallet" type="button" hidden>Pay with browser wallet</button>
</main>
<script src="/assets/pay.js" defer></script>
</body>
</html>`;
    },
  );

  app.get(
    "/assets/pay.js",
    { config: { nonJson: true }, schema: { hide: true } },
    async (_request, reply) => {
      reply
        .header("content-type", "text/javascript; charset=utf-8")
        .header("cache-control", "public, max-age=300");
      return PAY_JS;
    },
  );
  app.get(
    "/assets/pay.css",
    { config: { nonJson: true }, schema: { hide: true } },
    async (_request, reply) => {
      reply.header("content-type", "text/css; charset=utf-8").header("cache-control", "public, max-age=300");
      return PAY_CSS;
    },
  );
};

const PAY_CSS = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center}
.card{background:#fff;max-width:420px;margin:2rem 1rem;padding:1.5rem;border-radius:12px;box-shadow:0 2px 12px #0001}
h1{font-size:1.3rem;margin:0 0 .5rem}.amount{font-size:1.6rem;font-weight:600;margin:.5rem 0}
.fiat{color:#555}.qr{width:100%;max-width:320px;height:auto;display:block;margin:1rem auto}
code{word-break:break-all;font-size:.8rem}#status[data-status=success],#status[data-status=complete]{color:#0a7d32}
#status[data-status=expired]{color:#b00020}button{font-size:1rem;padding:.6rem 1rem;border-radius:8px}`;

const PAY_JS = `(() => {
  const card = document.querySelector("main.card");
  const id = card.dataset.orderId;
  const expiresAt = Date.parse(card.dataset.expiresAt);
  const statusEl = document.getElementById("status");
  const confEl = document.getElementById("confirmations");
  const countdownEl = document.getElementById("countdown");
  const final = ["complete", "expired", "refunded"];
  function tick() {
    const left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
    countdownEl.textContent = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
  }
  async function poll() {
    try {
      const res = await fetch("/pay/" + id + "/status", { headers: { accept: "application/json" } });
      if (res.ok) {
        const order = await res.json();
        statusEl.textContent = order.status;
        statusEl.dataset.status = order.status;
        confEl.textContent = order.confirmations ? "(" + order.confirmations + " confirmations)" : "";
        if (final.includes(order.status)) return;
      }
    } catch {}
    setTimeout(poll, 2000);
  }
  tick();
  setInterval(tick, 1000);
  poll();
})();`;
