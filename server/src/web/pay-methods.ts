import type { FastifyRequest } from "fastify";
import type { AppDeps } from "../api/deps.ts";
import type { OrderRow } from "../orders/serialize.ts";
import type { PaymentMethodJson } from "../payment-methods/service.ts";
import { escapeHtml, scriptJson } from "./html.ts";
import { clientMessages, pickLocale, translator, type Locale } from "./i18n/index.ts";
import { payMethodsMessages } from "./i18n/messages/pay-methods.ts";
import { chainName } from "./pay-view.ts";

/** A method's QR image on this server (the JSON's `qr_code` is absolute, on PUBLIC_URL). */
const qrPath = (orderId: bigint | number, method: string) =>
  `/order/${orderId}/methods/${encodeURIComponent(method)}/qr.svg`;

/** "USDC on Base", "LTC": what the list shows for a method. */
type PayMethodsT = ReturnType<typeof translator<keyof (typeof payMethodsMessages)["en"] & string>>;

function methodLabel(m: PaymentMethodJson, t: PayMethodsT): string {
  return m.chain_id === null ? m.token : t("onChain", { coin: m.token, chain: chainName(m.chain_id) });
}

/**
 * The payment page's methods (default first) as a short list; picking one shows its QR code,
 * address and amount (client/pay-methods.js). Empty for an order with only its default method.
 */
export function renderPayMethods(
  orderId: bigint,
  methods: readonly PaymentMethodJson[],
  locale: Locale,
): string {
  if (methods.length < 2) return "";
  const t = translator(payMethodsMessages, locale);
  const first = methods[0] as PaymentMethodJson;
  const items = methods
    .map(
      (m, i) =>
        `<li><button type="button" class="method" data-index="${i}" aria-pressed="${i === 0}">` +
        `<span class="method-name">${escapeHtml(methodLabel(m, t))}</span>` +
        `<span class="method-amount">${escapeHtml(m.amount)} ${escapeHtml(m.token)}</span>` +
        (m.default ? ` <span class="method-default">${escapeHtml(t("default"))}</span>` : "") +
        `</button></li>`,
    )
    .join("");
  const data = {
    methods: methods.map((m) => ({
      label: methodLabel(m, t),
      token: m.token,
      address: m.address,
      amount: m.amount,
      rate: m.rate,
      uri: m.payment_uri,
      qr: qrPath(orderId, m.method),
      paid: m.amount_paid,
    })),
    messages: clientMessages(payMethodsMessages, locale),
  };
  return `<link rel="stylesheet" href="/assets/pay-methods.css">
<section class="option pay-methods" id="pay-methods" aria-labelledby="pay-methods-title" lang="${locale}">
  <h2 id="pay-methods-title">${escapeHtml(t("heading"))}</h2>
  <p class="methods-hint">${escapeHtml(t("intro"))}</p>
  <ul class="method-list" role="list">${items}</ul>
  <div class="method-panel" id="method-panel" aria-live="polite">
    <img class="qr" id="method-qr" src="${escapeHtml(qrPath(orderId, first.method))}" width="240" height="240"
         alt="${escapeHtml(t("qrAlt", { amount: first.amount, coin: first.token, address: first.address }))}">
    <p class="methods-hint" id="method-send">${escapeHtml(t("send", { amount: first.amount, coin: first.token }))}</p>
    <p class="label">${escapeHtml(t("address"))}</p>
    <code class="value" id="method-address">${escapeHtml(first.address)}</code>
    <p class="label">${escapeHtml(t("amount"))}</p>
    <code class="value" id="method-amount">${escapeHtml(first.amount)} ${escapeHtml(first.token)}</code>
    <p class="muted small" id="method-rate">${escapeHtml(t("rate", { rate: first.rate, coin: first.token }))}</p>
    <p class="muted small" id="method-paid"${first.amount_paid === "0" ? " hidden" : ""}>${escapeHtml(t("received", { amount: first.amount_paid, coin: first.token }))}</p>
    <p class="open"><a class="secondary" id="method-open" href="${escapeHtml(first.payment_uri)}">${escapeHtml(t("openWallet"))}</a></p>
  </div>
</section>
<script type="application/json" id="pay-methods-data">${scriptJson(data)}</script>
<script type="module" src="/assets/pay-methods.js"></script>`;
}

/**
 * The payment page with its methods, for the order of `request` (the page's language as the
 * request asks: ?lang=, then Accept-Language). The page is returned unchanged without them.
 */
export async function withPayMethods(
  page: string,
  deps: Pick<AppDeps, "paymentMethods">,
  order: OrderRow,
  request: FastifyRequest,
): Promise<string> {
  const methods = deps.paymentMethods ? await deps.paymentMethods.describe(order) : [];
  if (methods.length < 2) return page;
  const query = (request.query as { lang?: unknown } | undefined)?.lang;
  const locale = pickLocale({
    query: typeof query === "string" ? query : null,
    acceptLanguage: request.headers["accept-language"] ?? null,
  });
  const section = renderPayMethods(order.id, methods, locale);
  // Before the page's own payment options, so the choice comes first.
  const at = page.indexOf('<div id="options"');
  return at >= 0
    ? page.slice(0, at) + section + page.slice(at)
    : page.replace("</main>", `${section}</main>`);
}
