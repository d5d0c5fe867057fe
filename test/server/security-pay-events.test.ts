/**
 * Security review 2, finding 6: the payment page's event stream (`GET /pay/:id/events`) had no
 * connection limit, and every open stream read its order from the database every 500 ms. Now:
 *   - all streams of one order share one poller: the database work per order does not grow with
 *     the number of viewers (counted here as the order reads the database actually runs);
 *   - a client (an IPv4 address, or an IPv6 /64) may hold PAY_EVENTS_PER_CLIENT streams, the
 *     process PAY_EVENTS_TOTAL; beyond either the answer is 429 `too_many_streams`.
 * Everything goes through real HTTP streams on a listening server; the client addresses come from
 * X-Forwarded-For, which the server trusts from loopback only (TRUST_PROXY=127.0.0.1).
 */
import assert from "node:assert/strict";
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { clientKey } from "../../server/src/lib/ip.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

const PER_CLIENT = 3;
const TOTAL = 30;
const INTERVAL_MS = 500; // the default poll interval

interface Stream {
  status: number;
  /** The JSON body of a refused stream. */
  body: string;
  /** The `data:` of each `event: status` received so far. */
  states: { status: string }[];
  ended: Promise<void>;
  /** Resolves when at least `n` states arrived. */
  received(n: number): Promise<void>;
  close(): void;
}

describe(`security: the payment page's event streams are limited and shared (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let base: string;
  const open: Stream[] = [];

  function stream(id: string, client?: string): Promise<Stream> {
    return new Promise((resolve, reject) => {
      const req: ClientRequest = httpRequest(`${base}/pay/${id}/events`, {
        headers: { accept: "text/event-stream", ...(client ? { "x-forwarded-for": client } : {}) },
      });
      req.on("error", reject);
      req.on("response", (res: IncomingMessage) => {
        let buffer = "";
        const waiting: { n: number; resolve: () => void }[] = [];
        const s: Stream = {
          status: res.statusCode ?? 0,
          body: "",
          states: [],
          ended: new Promise((done) => res.on("close", () => done())),
          received(n) {
            return s.states.length >= n
              ? Promise.resolve()
              : new Promise((r) => waiting.push({ n, resolve: r }));
          },
          close() {
            req.destroy();
          },
        };
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (s.status !== 200) {
            s.body += chunk;
            return;
          }
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = /^event: status\ndata: (.*)$/s.exec(message)?.[1];
            if (data) s.states.push(JSON.parse(data) as { status: string });
          }
          for (const w of waiting.filter((w) => s.states.length >= w.n)) w.resolve();
        });
        if (s.status === 200) {
          open.push(s);
          resolve(s);
        } else res.on("end", () => resolve(s));
      });
      req.end();
    });
  }

  async function closeAll() {
    const all = open.splice(0);
    for (const s of all) s.close();
    await Promise.all(all.map((s) => s.ended));
    // The server sees each close and gives the slot back.
    await new Promise((r) => setTimeout(r, 100));
  }

  async function newOrder(): Promise<string> {
    const res = await api.system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: api.chain.merchant.address, callback: "https://shop.example/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    return String(res.json().id);
  }

  before(async function () {
    api = await startApiSystem({
      RATE_LIMIT_PER_MINUTE: "100000",
      PAY_EVENTS_PER_CLIENT: String(PER_CLIENT),
      PAY_EVENTS_TOTAL: String(TOTAL),
      TRUST_PROXY: "127.0.0.1",
    });
    await api.system.app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(api.system.app.server.address() as AddressInfo).port}`;
  });
  afterEach(closeAll);
  after(async function () {
    await api?.close();
  });

  it("serves 20 viewers of one order from one poller: the order reads do not grow with viewers", async function () {
    const id = await newOrder();
    const viewers = await Promise.all(Array.from({ length: 20 }, (_, i) => stream(id, `10.1.0.${i + 1}`)));
    await Promise.all(viewers.map((v) => v.received(1)));
    assert.ok(viewers.every((v) => v.status === 200 && v.states[0]?.status === "pending"));

    // Count the order reads the database runs while the 20 streams stay open.
    const db = api.testDb.db;
    const original = db.query.bind(db);
    let reads = 0;
    db.query = ((sql: string, params?: readonly unknown[]) => {
      if (/FROM orders WHERE id = \$1/.test(sql)) reads++;
      return original(sql, params);
    }) as typeof db.query;
    const started = Date.now();
    try {
      await new Promise((r) => setTimeout(r, 2_500));
    } finally {
      db.query = original;
    }
    const ticks = Math.ceil((Date.now() - started) / INTERVAL_MS);
    assert.ok(reads >= 1, "the order is still followed");
    assert.ok(
      reads <= ticks + 1,
      `${reads} order reads in ${ticks} poll intervals for 20 viewers (one poller reads once per interval)`,
    );

    // One poller still reaches every viewer: a change is pushed to all 20, and the final status ends them.
    await db.query("UPDATE orders SET status = 'expired' WHERE id = $1", [id]);
    await Promise.all(viewers.map((v) => v.ended));
    assert.ok(
      viewers.every((v) => v.states.at(-1)?.status === "expired"),
      JSON.stringify(viewers.map((v) => v.states.map((s) => s.status))),
    );
  });

  it(`refuses a client's stream past ${PER_CLIENT} with 429, counting an IPv6 /64 as one client`, async function () {
    const id = await newOrder();
    const first = [];
    for (const client of ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa::3"]) {
      const s = await stream(id, client);
      assert.equal(s.status, 200, s.body);
      first.push(s);
    }
    const refused = await stream(id, "2001:db8:1:2:ffff:ffff:ffff:9");
    assert.equal(refused.status, 429, refused.body);
    const error = (JSON.parse(refused.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, "too_many_streams");
    assert.match(error.message, new RegExp(`limit is ${PER_CLIENT} per address`));
    assert.match(error.message, /GET \/pay\/:id\/status/);
    // Another /64, and another IPv4 client, are not affected.
    assert.equal((await stream(id, "2001:db8:1:3::1")).status, 200);
    assert.equal((await stream(id, "198.51.100.7")).status, 200);
    // A closed stream gives its slot back.
    first[0]!.close();
    await first[0]!.ended;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await stream(id, "2001:db8:1:2::77")).status, 200);
  });

  it("counts the connection's own address when no trusted proxy names the client", async function () {
    const id = await newOrder();
    for (let i = 0; i < PER_CLIENT; i++) assert.equal((await stream(id)).status, 200);
    assert.equal((await stream(id)).status, 429);
  });

  it(`refuses any stream past ${TOTAL} open in all with 429`, async function () {
    const ids = await Promise.all([newOrder(), newOrder(), newOrder()]);
    for (let i = 0; i < TOTAL; i++) {
      const s = await stream(ids[i % 3]!, `10.2.${i}.1`);
      assert.equal(s.status, 200, `stream ${i + 1}: ${s.body}`);
    }
    const refused = await stream(ids[0]!, "10.3.0.1");
    assert.equal(refused.status, 429, refused.body);
    const error = (JSON.parse(refused.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, "too_many_streams");
    assert.match(error.message, /server has 30 payment status streams open/);
    // The other endpoints of the page keep working.
    const status = await api.system.app.inject({ method: "GET", url: `/pay/${ids[0]}/status` });
    assert.equal(status.statusCode, 200);
  });

  it("answers 404 for an unknown order without holding a slot", async function () {
    for (let i = 0; i < PER_CLIENT + 2; i++) {
      const s = await stream("999999999999", "10.4.0.1");
      assert.equal(s.status, 404, s.body);
    }
    assert.equal((await stream(await newOrder(), "10.4.0.1")).status, 200);
  });

  it("keys clients by IPv4 address and IPv6 /64", function () {
    assert.equal(clientKey("203.0.113.9"), "203.0.113.9");
    assert.equal(clientKey("::ffff:203.0.113.9"), "203.0.113.9");
    assert.equal(clientKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    assert.equal(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
    assert.notEqual(clientKey("2001:db8:1:3::1"), clientKey("2001:db8:1:2::1"));
  });
});
