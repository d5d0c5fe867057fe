/// <reference lib="dom" />
// The console's callback tools: "Send a test event" (POST /callbacks/test, then the delivery is
// polled until it is delivered or failed) and the delivery log (GET /callbacks/recent), where each
// delivery expands to its attempts and each attempt to the request sent and the response received.
// Strings come from server/src/web/i18n/messages/console-callbacks.ts, embedded in the page as JSON.
import type { ConsoleCallbacksMessages } from "../i18n/messages/console-callbacks.ts";

type Messages = Record<keyof ConsoleCallbacksMessages, string>;
type Api = <T>(method: string, path: string, body?: unknown) => Promise<T>;

interface Part {
  headers: { name: string; value: string }[];
  body: string;
  body_bytes: number | null;
  truncated: boolean;
}
interface Attempt {
  attempt: number | null;
  at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  request: Part | null;
  response: (Part & { status: number }) | null;
}
interface Delivery {
  id: number;
  kind: string;
  url: string;
  status: "pending" | "sending" | "delivered" | "failed";
  attempt_count: number;
  created_at: string;
  next_attempt_at: string | null;
  last_error: string | null;
  attempts: Attempt[];
}

/** How often, and for how long, a test delivery is polled. */
const POLL_MS = 500;
const POLL_FOR_MS = 120_000;

/** The catalogue of the page's language (`<html lang>`), English when the page has another. */
function pickMessages(all: Record<string, Messages>): Messages {
  const lang = document.documentElement.lang.toLowerCase();
  const key =
    Object.keys(all).find((k) => k.toLowerCase() === lang) ??
    Object.keys(all).find((k) => k.toLowerCase().split("-")[0] === lang.split("-")[0]) ??
    "en";
  return all[key] ?? (all.en as Messages);
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Pick<HTMLElement, "className" | "id" | "textContent">> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

/**
 * Renders the tools into `root` (a container in the console's callbacks section). `api` and
 * `fail` are the console's: the session cookie, its error display.
 */
export function mountCallbackTools(options: { root: HTMLElement; api: Api; fail: (error: unknown) => void }) {
  const { root, api, fail } = options;
  const source = document.getElementById("callbacks-messages");
  const m = pickMessages(JSON.parse(source?.textContent ?? "{}") as Record<string, Messages>);
  const t = (key: keyof Messages, vars: Record<string, string | number> = {}) =>
    (m[key] ?? key).replace(/\{(\w+)\}/g, (whole, name: string) =>
      Object.hasOwn(vars, name) ? String(vars[name]) : whole,
    );
  const statusText = (s: Delivery["status"]) =>
    t(
      (
        {
          pending: "statusPending",
          sending: "statusSending",
          delivered: "statusDelivered",
          failed: "statusFailed",
        } as const
      )[s],
    );
  const when = (iso: string) => new Date(iso).toLocaleString();

  function partView(title: string, part: Part, status?: number): HTMLElement {
    const box = el("div", { className: "exchange-part" }, el("h4", { textContent: title }));
    if (status !== undefined) box.append(el("p", { textContent: t("httpStatus", { status }) }));
    const table = el("table", { className: "exchange-headers" });
    table.createCaption().textContent = t("headers");
    for (const h of part.headers) {
      const row = table.insertRow();
      row.insertCell().textContent = h.name;
      row.insertCell().textContent = h.value;
    }
    box.append(table, el("p", { className: "muted small", textContent: t("body") }));
    box.append(el("pre", { className: "exchange-body", textContent: part.body }));
    if (part.truncated) {
      box.append(
        el("p", {
          className: "muted small",
          textContent:
            part.body_bytes === null ? t("truncatedUnknown") : t("truncated", { bytes: part.body_bytes }),
        }),
      );
    }
    return box;
  }

  function attemptView(a: Attempt, open: boolean): HTMLElement {
    const result = a.status_code === null ? t("noResponse") : t("httpStatus", { status: a.status_code });
    const details = el(
      "details",
      { className: "attempt" },
      el("summary", {
        textContent: t("attempt", { n: a.attempt ?? "?", at: when(a.at), result, ms: a.latency_ms }),
      }),
    );
    details.dataset.attempt = String(a.attempt ?? "");
    details.open = open;
    if (!a.request) details.append(el("p", { className: "muted small", textContent: t("noRequest") }));
    else details.append(partView(t("request"), a.request));
    if (a.response) details.append(partView(t("response"), a.response, a.response.status));
    else if (a.request)
      details.append(
        el("p", { className: "muted small", textContent: t("noResponseDetail", { error: a.error ?? "" }) }),
      );
    return details;
  }

  function deliveryView(d: Delivery, open = false): HTMLElement {
    const details = el(
      "details",
      { className: "delivery" },
      el("summary", {
        textContent: t("summary", {
          kind: d.kind,
          url: d.url,
          status: statusText(d.status),
          count: d.attempt_count,
          at: when(d.created_at),
        }),
      }),
    );
    details.dataset.delivery = String(d.id);
    details.dataset.status = d.status;
    details.open = open;
    d.attempts.forEach((a, i) => details.append(attemptView(a, open && i === d.attempts.length - 1)));
    return details;
  }

  // The test event.
  const url = el("input", { id: "test-event-url" });
  url.type = "url";
  url.placeholder = t("testUrlPlaceholder");
  url.spellcheck = false;
  const label = el("label", { textContent: t("testUrl") });
  label.htmlFor = url.id;
  const send = el("button", { id: "send-test-event", className: "secondary-button", textContent: t("send") });
  send.type = "button";
  const result = el("p", { id: "test-event-result" });
  result.setAttribute("role", "status");
  result.setAttribute("aria-live", "polite");
  const shown = el("div", { id: "test-event-delivery" });

  // The delivery log.
  const showRecent = el("button", {
    id: "show-deliveries",
    className: "secondary-button",
    textContent: t("showRecent"),
  });
  showRecent.type = "button";
  const recent = el("div", { id: "recent-deliveries" });

  root.append(
    el("h3", { textContent: t("testTitle") }),
    el("p", { className: "muted small", textContent: t("testIntro") }),
    el("div", { className: "row" }, label, url, send),
    result,
    shown,
    el("h3", { textContent: t("recentTitle") }),
    showRecent,
    recent,
  );

  async function loadRecent() {
    const { deliveries } = await api<{ deliveries: Delivery[] }>("GET", "/callbacks/recent?limit=20");
    recent.replaceChildren();
    if (deliveries.length === 0)
      recent.append(el("p", { className: "muted", textContent: t("noDeliveries") }));
    for (const d of deliveries) recent.append(deliveryView(d));
  }

  async function sendTest() {
    send.disabled = true;
    shown.replaceChildren();
    try {
      const target = url.value.trim();
      const queued = await api<{ id: number }>("POST", "/callbacks/test", target ? { url: target } : {});
      result.textContent = t("sending");
      const deadline = Date.now() + POLL_FOR_MS;
      let seen = -1;
      for (;;) {
        const d = await api<Delivery>("GET", `/callbacks/${queued.id}`);
        if (d.attempts.length !== seen) {
          seen = d.attempts.length;
          shown.replaceChildren(deliveryView(d, true));
        }
        const last = d.attempts.at(-1);
        if (d.status === "delivered") {
          result.textContent = t("delivered", { url: d.url, status: last?.status_code ?? "" });
          break;
        }
        if (d.status === "failed") {
          result.textContent = t("failed", { error: d.last_error ?? "" });
          break;
        }
        if (d.attempts.length > 0 && d.next_attempt_at) {
          result.textContent = t("retrying", { error: d.last_error ?? "", at: when(d.next_attempt_at) });
        }
        if (Date.now() > deadline) {
          result.textContent = t("stillWaiting");
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      result.textContent = "";
      fail(error);
    } finally {
      send.disabled = false;
    }
  }

  send.addEventListener("click", () => void sendTest());
  showRecent.addEventListener("click", () => void loadRecent().catch(fail));
}
