import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { CallbackTimeoutError, postCallback } from "../../server/src/callbacks/http.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signatureHeader } from "../../server/src/callbacks/signing.ts";
import { resolveCallbackTarget } from "../../server/src/callbacks/ssrf.ts";
import { startReceiver, type Receiver } from "./receiver.ts";

const SECRET = "receiver-test-secret-0123456789abcdef";
const OTHER = "another-secret-the-receiver-does-not-hold";

/**
 * Sends a callback the way the callback worker does: signed by the server's signatureHeader and
 * POSTed by its postCallback (fresh connection, one deadline).
 */
async function send(
  url: string,
  body: string,
  options: { secrets?: string[]; signature?: string; eventId?: string; timeoutMs?: number } = {},
) {
  const headers: Record<string, string> = { [EVENT_ID_HEADER]: options.eventId ?? "event-1" };
  const signature =
    options.signature ?? (options.secrets ? signatureHeader(options.secrets, body) : undefined);
  if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
  const target = await resolveCallbackTarget(url, { allowPrivate: true });
  return postCallback(target, headers, body, {
    timeoutMs: options.timeoutMs ?? 5_000,
    maxResponseBytes: 1024,
  });
}

const orderBody = (id: number, status: string) => JSON.stringify({ id, status, confirmations: 2 });

describe("test/support receiver: one scriptable callback receiver", function () {
  this.timeout(30_000);

  async function withReceiver(
    options: Parameters<typeof startReceiver>[0],
    f: (r: Receiver) => Promise<void>,
  ): Promise<void> {
    const r = await startReceiver(options);
    try {
      await f(r);
    } finally {
      await r.close();
    }
  }

  it("records each delivery (path, headers, raw body, event id, order) and checks its signature with the server's verification", async function () {
    await withReceiver({ secrets: [SECRET] }, async (r) => {
      const body = orderBody(7, "success");
      const res = await send(`${r.url}/hook`, body, { secrets: [SECRET], eventId: "ev-7" });
      assert.equal(res.statusCode, 200);
      assert.equal(r.deliveries.length, 1);
      const d = r.deliveries[0]!;
      assert.equal(d.path, "/hook");
      assert.equal(d.body, body);
      assert.equal(d.eventId, "ev-7");
      assert.equal(d.headers["x-ethpos-event-id"], "ev-7");
      assert.match(d.signature ?? "", /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.equal(d.order, 7);
      assert.equal(d.verified, "valid");
      assert.equal(d.answered, 200);
      assert.ok(Math.abs(d.at - Date.now()) < 5_000);
    });
  });

  it("flags a wrong secret, a tampered body, a stale timestamp and a garbled header as invalid; no header as unsigned", async function () {
    await withReceiver({ secrets: async () => [SECRET] }, async (r) => {
      const body = orderBody(8, "complete");
      await send(r.url, body, { secrets: [OTHER] });
      await send(r.url, body.replace("complete", "refunded"), { signature: signatureHeader([SECRET], body) });
      const stale = Math.floor(Date.now() / 1000) - 301;
      await send(r.url, body, { signature: signatureHeader([SECRET], body, stale) });
      await send(r.url, body, { signature: "t=abc,v1=zz" });
      await send(r.url, body);
      // During a rotation the header carries the new and the previous secret's v1: either is enough.
      await send(r.url, body, { secrets: [OTHER, SECRET] });
      assert.deepEqual(
        r.deliveries.map((d) => d.verified),
        ["invalid", "invalid", "invalid", "invalid", "unsigned", "valid"],
      );
      // A flagged signature still gets the mode's answer: the receiver records, it does not judge.
      assert.ok(r.deliveries.every((d) => d.answered === 200));
    });
  });

  it("without secrets a signature is recorded unchecked; a secrets lookup that fails checks nothing", async function () {
    await withReceiver({}, async (r) => {
      await send(r.url, "{}", { secrets: [SECRET] });
      assert.equal(r.deliveries[0]?.verified, "unchecked");
    });
    await withReceiver(
      {
        secrets: async () => {
          throw new Error("database down");
        },
      },
      async (r) => {
        const res = await send(r.url, "{}", { secrets: [SECRET] });
        assert.equal(res.statusCode, 200, "the delivery itself is not failed by the lookup");
        assert.equal(r.deliveries[0]?.verified, "unchecked");
      },
    );
  });

  it("answers a status mode (500) and records the attempt as answered 500", async function () {
    await withReceiver({ mode: 500 }, async (r) => {
      const res = await send(r.url, "{}");
      assert.equal(res.statusCode, 500);
      assert.equal(r.deliveries[0]?.answered, 500);
      await r.setMode(503);
      assert.equal((await send(r.url, "{}")).statusCode, 503);
      await r.setMode("ok");
      assert.equal((await send(r.url, "{}")).statusCode, 200);
      assert.deepEqual(
        r.deliveries.map((d) => d.answered),
        [500, 503, 200],
      );
    });
  });

  it("down: its port refuses connections, and coming back it listens on the same URL", async function () {
    await withReceiver({}, async (r) => {
      await r.setMode("down");
      assert.equal(r.mode, "down");
      await assert.rejects(send(r.url, "{}"), (e: NodeJS.ErrnoException) => e.code === "ECONNREFUSED");
      await r.setMode("ok");
      assert.equal((await send(r.url, "{}")).statusCode, 200);
      assert.equal(r.deliveries.length, 1, "nothing was recorded while down");
    });
    // Started down on a port of its own choosing: the URL is known, and works once up.
    await withReceiver({ mode: "down" }, async (r) => {
      await assert.rejects(send(r.url, "{}"), (e: NodeJS.ErrnoException) => e.code === "ECONNREFUSED");
      await r.setMode("ok");
      assert.equal((await send(r.url, "{}")).statusCode, 200);
    });
  });

  it("slow: answers 200 only after slowMs; a sender that gives up first leaves it unanswered", async function () {
    await withReceiver({ mode: { slowMs: 400 } }, async (r) => {
      const started = Date.now();
      assert.equal((await send(r.url, "{}")).statusCode, 200);
      assert.ok(Date.now() - started >= 400, "not before slowMs");
      assert.equal(r.deliveries[0]?.answered, 200);
      const first = r.deliveries[0]!;
      assert.ok(first.answeredAt! - first.at >= 400, "answeredAt is when the answer went out");

      await assert.rejects(send(r.url, "{}", { timeoutMs: 100 }), CallbackTimeoutError);
      await new Promise((resolve) => setTimeout(resolve, 500)); // past slowMs
      assert.equal(r.deliveries[1]?.answered, undefined, "the sender gave up: not delivered");
      assert.equal(r.deliveries[1]?.answeredAt, undefined);
    });
  });

  it("timeout: never answers, so the sender's deadline fires; the attempt is recorded unanswered", async function () {
    await withReceiver({ mode: "timeout" }, async (r) => {
      await assert.rejects(send(r.url, "{}", { timeoutMs: 200 }), CallbackTimeoutError);
      assert.equal(r.deliveries.length, 1);
      assert.equal(r.deliveries[0]?.answered, undefined);
    });
  });

  it("waitFor wakes on a delivery and fails with a clear message when the condition never holds", async function () {
    await withReceiver({}, async (r) => {
      const waiting = r.waitFor((all) => all.some((d) => d.path === "/late"), 5_000);
      setTimeout(() => void send(`${r.url}/late`, "{}"), 50);
      const all = await waiting;
      assert.equal(all.at(-1)?.path, "/late");
      await assert.rejects(
        r.waitFor((all) => all.length > 5, 200),
        /condition not met within 200 ms \(1 received\)/,
      );
    });
  });

  it("keeps the last `keep` deliveries, answers GET (?order=<id>) with them, and prints a line per callback", async function () {
    const printed: string[] = [];
    await withReceiver(
      { path: "/callback", keep: 3, secrets: [SECRET], print: (line) => printed.push(line) },
      async (r) => {
        assert.match(r.url, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
        assert.equal(new URL(r.url).port, String(r.port));
        for (const [id, status] of [
          [1, "success"],
          [2, "success"],
          [1, "complete"],
          [2, "complete"],
        ] as const)
          await send(r.url, orderBody(id, status), { secrets: [SECRET], eventId: `ev-${id}-${status}` });
        await send(r.url, orderBody(3, "success"), { secrets: [OTHER] });
        assert.deepEqual(
          r.deliveries.map((d) => [d.order, d.eventId]),
          [
            [1, "ev-1-complete"],
            [2, "ev-2-complete"],
            [3, "event-1"],
          ],
        );
        const list = async (query: string) =>
          ((await (await fetch(`${r.url}${query}`)).json()) as { callbacks: Record<string, unknown>[] })
            .callbacks;
        const two = await list("?order=2");
        assert.equal(two.length, 1);
        assert.equal(two[0]!.body, orderBody(2, "complete"));
        assert.equal(two[0]!.event_id, "ev-2-complete");
        assert.equal(two[0]!.verified, "valid");
        assert.equal(two[0]!.answered, 200);
        assert.match(String(two[0]!.received_at), /^\d{4}-\d\d-\d\dT/);
        assert.match(String(two[0]!.signature), /^t=\d+,v1=/);
        assert.equal((await list("")).length, 3);
        assert.deepEqual(await list("?order=99"), []);

        assert.equal(printed.length, 5);
        assert.equal(
          printed[0],
          "callback received: order 1 success (2 confirmations), event ev-1-success, signature valid",
        );
        assert.match(printed[4]!, /^callback received: order 3 success .*signature not valid/);
      },
    );
  });
});
