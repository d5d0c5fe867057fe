import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "mocha";
import { addressLinkedCallback } from "../../server/src/callbacks/account-callbacks.ts";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import type { OutboxEntry } from "../../server/src/callbacks/outbox.ts";
import { recurringCallbacks } from "../../server/src/callbacks/recurring-callbacks.ts";
import { callbackRequestHeaders } from "../../server/src/callbacks/http.ts";
import { testEventBody } from "../../server/src/callbacks/service.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER } from "../../server/src/callbacks/signing.ts";
import type { Queryable } from "../../server/src/db/types.ts";
import { ELETROPAY_CALLBACK_KIND, eletropayCallbackBody } from "../../server/src/eletropay/watcher.ts";
import { NOTIFY_EVENTS } from "../../server/src/merchants/plugins.ts";
import { orderStatusText } from "../../server/src/notify/order-status.ts";
import { recurringText } from "../../server/src/notify/recurring.ts";
import { webhookNotifier } from "../../server/src/notify/webhook.ts";
import type { OrderRow } from "../../server/src/orders/serialize.ts";
import type { OrderStatus } from "../../server/src/orders/state.ts";
import type { PeriodRow, SubscriptionRow } from "../../server/src/recurring/repository.ts";
import type { RecurringEvent, RecurringEventType } from "../../server/src/recurring/events.ts";

/**
 * docs/callbacks.md's event catalogue against the code that sends the events: every kind the
 * system queues (through the real enqueue sites, order and subscription subscribers, the notifier,
 * the account callback, EletroPay's body and the test event) has an example there, and each
 * example has exactly the keys of the body the code produces, at every depth. Examples are the
 * ```json blocks after an `<!-- event-example: kind … -->` marker.
 */

const PUBLIC_URL = "https://pay.example.com";

/** A transaction that records what the outbox writers queue instead of writing it. */
function capture(): { tx: Queryable; queued: { kind: string; body: string }[] } {
  const queued: { kind: string; body: string }[] = [];
  const tx: Queryable = {
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      assert.match(sql, /INSERT INTO callbacks/);
      if (typeof params[0] === "string" && params[0].startsWith("[")) {
        // enqueueCallbacks: the step's rows as one JSON array ({stream, kind, url, body, …} each).
        const rows = JSON.parse(params[0]) as { kind: string; body: string }[];
        for (const row of rows) queued.push({ kind: row.kind, body: row.body });
      } else queued.push({ kind: params[1] as string, body: params[3] as string });
      return { rows: [{ id: 1n, event_id: "00000000-0000-4000-8000-000000000000" }] as Row[], rowCount: 1 };
    },
  };
  return { tx, queued };
}

const order = (status: OrderStatus): OrderRow => ({
  id: 1733590000123n,
  merchant_id: 7n,
  chain_id: 1n,
  pay_to: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  deposit_address: "0x8f3Cf7ad23Cd3CaDbD9735AFf958023239c6A063",
  reference: `0x${"ab".repeat(32)}`,
  awaiting_sweep: false,
  merchant_address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  token: "0x0000000000000000000000000000000000000000",
  token_symbol: "ETH",
  token_decimals: 18,
  currency_amount: "13.54",
  usd_cents: 1354n,
  expected_amount: "5416000000000000",
  price: "250000",
  price_decimals: 2,
  price_source: "feed",
  callback: "https://shop.example/hooks/ethpos",
  item_title: "Espresso",
  item_description: "Double shot",
  item_image: "https://shop.example/espresso.png",
  return_url: "https://shop.example/thanks",
  terminal_key_id: null,
  status,
  exception: null,
  amount_paid: status === "pending" || status === "expired" ? "0" : "5416000000000000",
  amount_refunded: "0",
  transaction_id: status === "pending" || status === "expired" ? null : `0x${"12".repeat(32)}`,
  paid_block: status === "pending" || status === "expired" ? null : 21_000_000n,
  sent_transaction: null,
  created_at: new Date("2026-12-07T14:00:00Z"),
  expires_at: new Date("2026-12-07T14:15:00Z"),
});

const subscription: SubscriptionRow = {
  id: 42n,
  merchant_id: 7n,
  chain_id: 1n,
  method: "deposit",
  token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
  token_symbol: "USDC",
  token_decimals: 6,
  usd_cents: 1990n,
  interval: "monthly",
  starts_at: new Date("2026-11-01T00:00:00Z"),
  merchant_address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  callback: "https://shop.example/hooks/ethpos",
  item_title: "Pro plan",
  item_description: "Monthly",
  item_image: null,
  reference: `0x${"cd".repeat(32)}`,
  deposit_address: "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
  page_token: "s_7RkJ2wq",
  status: "active",
  paid_through: new Date("2027-01-01T00:00:00Z"),
  shown_index: 1,
  credit: "0",
  credit_block: null,
  next_check_at: null,
  cancelled_at: null,
  created_at: new Date("2026-11-01T00:00:00Z"),
};

const period: PeriodRow = {
  subscription_id: 42n,
  index: 1,
  starts_at: new Date("2026-12-01T00:00:00Z"),
  ends_at: new Date("2027-01-01T00:00:00Z"),
  opens_at: new Date("2026-11-21T00:00:00Z"),
  opened_at: new Date("2026-11-21T00:00:00Z"),
  price: "100",
  price_decimals: 2,
  expected_amount: "19900000",
  paid_amount: "19900000",
  paid_at: new Date("2026-11-28T09:30:00Z"),
  paid_block: 21_000_100n,
  transaction_id: `0x${"34".repeat(32)}`,
  reminded_at: null,
};

/** Every kind the system sends, with one body each, produced by the code that sends it. */
async function producedBodies(): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  const add = (kind: string, body: string) => out.set(kind, JSON.parse(body));

  const orders = capture();
  const statuses: OrderStatus[] = ["pending", "success", "complete", "expired", "refunded"];
  await orderCallbacks(PUBLIC_URL).handle(
    orders.tx,
    statuses.map((status) => ({
      type: "order.status_changed" as const,
      order: order(status),
      previous: "pending" as OrderStatus,
      status,
      indexedBlock: 21_000_011n,
    })),
  );
  for (const q of orders.queued) add(q.kind, q.body);

  const recurring = capture();
  const types: RecurringEventType[] = [
    "recurring.period_paid",
    "recurring.status_changed",
    "recurring.upcoming",
  ];
  const recurringEvents: RecurringEvent[] = types.map((type) => ({
    type,
    subscription,
    periods: [period],
    previous: "upcoming",
    status: "active",
    periodIndex: type === "recurring.status_changed" ? null : 1,
    indexedBlock: 21_000_111n,
  }));
  await recurringCallbacks(PUBLIC_URL).handle(recurring.tx, recurringEvents);
  for (const q of recurring.queued) add(q.kind, q.body);

  for (const event of NOTIFY_EVENTS) {
    const entries: OutboxEntry[] = [];
    const status = event.startsWith("order.") ? event.slice("order.".length) : null;
    await webhookNotifier({} as Queryable, "https://shop.example/notify", async (_tx, entry) => {
      entries.push(entry);
    }).send({
      merchantId: 7n,
      event,
      to: "+5511999990000",
      text: status
        ? orderStatusText(status, {
            id: 1733590000123,
            currency_amount: "13.54",
            expected_amount: "0.005416",
            token: "ETH",
          })
        : recurringText(recurringEvents.find((e) => e.type === event) as RecurringEvent),
      orderId: status ? 1733590000123n : null,
      status,
    });
    for (const e of entries) add(e.kind, e.body);
  }

  const account = capture();
  await addressLinkedCallback(account.tx, {
    merchantId: 7n,
    address: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    via: "siwe",
    linkedAt: new Date("2026-12-07T14:00:00Z"),
    notifyUrl: "https://shop.example/notify",
    notifyPhone: null,
  });
  for (const q of account.queued) add(q.kind, q.body);

  add(
    ELETROPAY_CALLBACK_KIND,
    eletropayCallbackBody({
      amount: 150_000_000n,
      confirmations: 2,
      address: "XpESxaUmonkq8RaLLp46Brx2K39ggQe226",
      txid: "ab".repeat(32),
    }),
  );
  add("test", JSON.stringify(testEventBody("0f7f5d2e-8a53-4c3b-9f1e-0c2b6f0e9a11", new Date())));
  return out;
}

/** The documented examples: kind → parsed JSON. */
async function documentedExamples(): Promise<Map<string, unknown>> {
  const doc = await readFile(new URL("../../docs/callbacks.md", import.meta.url), "utf8");
  const examples = new Map<string, unknown>();
  const marker = /<!-- event-example: ([^>]+?) -->\s*```json\n([\s\S]*?)```/g;
  for (const match of doc.matchAll(marker)) {
    const body = JSON.parse(match[2] as string) as unknown;
    for (const kind of (match[1] as string).split(/\s+/)) {
      assert.ok(!examples.has(kind), `docs/callbacks.md has one example of ${kind}`);
      examples.set(kind, body);
    }
  }
  return examples;
}

/** Every key path of a JSON value: `a`, `a.b`, `list[].c`; `a=null` for a null, so null and an object differ. */
function keyPaths(value: unknown, at = ""): string[] {
  if (value === null) return [`${at}=null`];
  if (Array.isArray(value)) return value.length === 0 ? [`${at}[]`] : keyPaths(value[0], `${at}[]`);
  if (typeof value !== "object") return [];
  const paths: string[] = [];
  for (const [key, inner] of Object.entries(value)) {
    const path = at ? `${at}.${key}` : key;
    paths.push(path, ...keyPaths(inner, path));
  }
  return paths.sort();
}

describe("docs/callbacks.md: the event catalogue matches what is sent", function () {
  it("documents every event kind the system sends, and no other", async function () {
    const produced = await producedBodies();
    const documented = await documentedExamples();
    // Every order status, subscription event and TXT event, the account, EletroPay and test events.
    assert.equal(produced.size, 5 + 3 + NOTIFY_EVENTS.length + 3);
    assert.deepEqual([...documented.keys()].sort(), [...produced.keys()].sort());
  });

  it("shows each event's body with exactly the keys the serializers produce", async function () {
    const produced = await producedBodies();
    const documented = await documentedExamples();
    for (const [kind, body] of produced) {
      assert.deepEqual(keyPaths(documented.get(kind)), keyPaths(body), `the example of ${kind}`);
    }
  });

  it("shows a whole test request that the documented check accepts, with the headers the worker sends", async function () {
    const doc = await readFile(new URL("../../docs/callbacks.md", import.meta.url), "utf8");
    const http = /```http\n([\s\S]*?)\n```/.exec(doc)?.[1];
    assert.ok(http, "docs/callbacks.md shows a whole request");
    const [head, body] = http.split("\n\n") as [string, string];
    const lines = head.split("\n").slice(1); // after the request line
    const headers = lines.map((line) => [
      line.slice(0, line.indexOf(":")),
      line.slice(line.indexOf(":") + 2),
    ]);
    const value = (name: string) => headers.find(([n]) => n?.toLowerCase() === name.toLowerCase())?.[1];
    const sent = callbackRequestHeaders({ [SIGNATURE_HEADER]: "x", [EVENT_ID_HEADER]: "y" }, body);
    assert.deepEqual(
      headers.map(([n]) => n).filter((n) => n !== "Host"),
      Object.keys(sent),
    );
    assert.equal(value("content-length"), String(Buffer.byteLength(body)));
    assert.equal(value("user-agent"), sent["user-agent"]);
    assert.deepEqual(keyPaths(JSON.parse(body)), keyPaths(testEventBody("t", new Date())));
    const snippet = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(
      doc,
    )?.[1];
    assert.ok(snippet);
    const { verifyEthposSignature } = (await import(
      `data:text/javascript,${encodeURIComponent(snippet)}`
    )) as {
      verifyEthposSignature: (h: unknown, raw: string, s: string, tol: number, now: number) => boolean;
    };
    const signature = value(SIGNATURE_HEADER);
    const t = Number(/t=(\d+)/.exec(signature ?? "")?.[1]);
    assert.equal(verifyEthposSignature(signature, body, "example-secret-0123456789abcdef", 300, t), true);
    assert.equal(
      verifyEthposSignature(signature, `${body} `, "example-secret-0123456789abcdef", 300, t),
      false,
    );
  });
});
