import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseCallbackConfig } from "../../server/src/config/callbacks.ts";
import {
  assertCallbackUrl,
  CallbackTargetRefused,
  resolveCallbackTarget,
} from "../../server/src/callbacks/ssrf.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { blockedAddressReason } from "../../server/src/lib/ip.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  attemptRows,
  callbackRow,
  enqueue,
  memoryLog,
  startReceiver,
  testConfig,
  type Receiver,
} from "./callbacks-support.ts";

describe("callbacks: SSRF address classification", function () {
  it("classifies IPv4, IPv6 and IPv4 embedded in IPv6", function () {
    const blocked: Record<string, RegExp> = {
      "127.0.0.1": /loopback/,
      "127.255.255.254": /loopback/,
      "10.1.2.3": /private/,
      "172.16.0.1": /private/,
      "172.31.255.255": /private/,
      "192.168.0.10": /private/,
      "169.254.169.254": /link-local/,
      "100.64.0.1": /carrier-grade NAT/,
      "100.100.100.200": /carrier-grade NAT/,
      "0.0.0.0": /unspecified/,
      "224.0.0.1": /multicast/,
      "255.255.255.255": /reserved/,
      "168.63.129.16": /metadata/,
      "::": /unspecified/,
      "::1": /loopback/,
      "0:0:0:0:0:0:0:1": /loopback/,
      "::ffff:127.0.0.1": /loopback/,
      "::ffff:7f00:1": /loopback/,
      "::ffff:169.254.169.254": /link-local/,
      "::ffff:10.0.0.1": /private/,
      "64:ff9b::a9fe:a9fe": /link-local/,
      "2002:c0a8:0101::1": /private/,
      "fe80::1": /link-local/,
      "fe80::1%eth0": /link-local/,
      "fc00::1": /unique-local/,
      "fd00:ec2::254": /unique-local/,
      "ff02::1": /multicast/,
      "2001:db8::1": /documentation/,
    };
    for (const [ip, reason] of Object.entries(blocked))
      assert.match(blockedAddressReason(ip) ?? "(allowed)", reason, ip);
    for (const ip of [
      "8.8.8.8",
      "1.1.1.1",
      "172.32.0.1",
      "100.128.0.1",
      "93.184.215.14",
      "::ffff:8.8.8.8",
      "2606:4700:4700::1111",
      "64:ff9b::808:808",
    ]) {
      assert.equal(blockedAddressReason(ip), undefined, ip);
    }
  });

  it("refuses non-http schemes and private literals in any spelling", function () {
    for (const url of [
      "ftp://example.com/",
      "file:///etc/passwd",
      "gopher://x/",
      "javascript:alert(1)",
      "not a url",
    ]) {
      assert.throws(() => assertCallbackUrl(url, true), CallbackTargetRefused, url);
    }
    for (const url of [
      "http://127.0.0.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://2130706433/",
      "http://0x7f.0.0.1/",
      "http://017700000001/",
      "https://10.0.0.1:8443/x",
      "http://[fd00:ec2::254]/",
    ]) {
      assert.throws(() => assertCallbackUrl(url, false), CallbackTargetRefused, url);
      assert.doesNotThrow(() => assertCallbackUrl(url, true), url);
    }
  });

  it("checks every resolved address and pins the connection to the checked one", async function () {
    const resolver = async (host: string) =>
      host === "mixed.example"
        ? [
            { address: "93.184.215.14", family: 4 as const },
            { address: "10.0.0.5", family: 4 as const },
          ]
        : [{ address: "93.184.215.14", family: 4 as const }];
    await assert.rejects(
      resolveCallbackTarget("http://mixed.example/", { allowPrivate: false, resolver }),
      /resolves to a private address \(10\.0\.0\.5\)/,
    );
    const target = await resolveCallbackTarget("https://public.example/hook", {
      allowPrivate: false,
      resolver,
    });
    assert.equal(target.address, "93.184.215.14");
    const pinned = await new Promise<unknown>((resolve) =>
      (target.lookup as unknown as (h: string, o: object, cb: (...a: unknown[]) => void) => void)(
        "public.example",
        { all: true },
        (_e, a) => resolve(a),
      ),
    );
    assert.deepEqual(pinned, [{ address: "93.184.215.14", family: 4 }]);
  });
});

describe(`callbacks: SSRF in production mode (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let v4: Receiver;
  let v6: Receiver | undefined;

  before(async function () {
    t = await createTestDb();
    v4 = await startReceiver();
    v6 = await startReceiver(undefined, { host: "::1" }).catch(() => undefined); // hosts without IPv6 loopback
  });
  after(async function () {
    await v4.close();
    await v6?.close();
    await t.drop();
  });

  it("refuses http://127.0.0.1, http://169.254.169.254, http://[::1] and a name resolving to loopback, without retrying", async function () {
    const production = parseCallbackConfig({
      NODE_ENV: "production",
      CALLBACK_SECRET: "production-secret-0123456789abcdef",
    });
    assert.equal(production.allowPrivateTargets, false);
    const config = { ...production, retry: testConfig().retry, pollIntervalMs: 100 };
    const v6Port = v6?.port ?? v4.port;
    const urls = [
      `http://127.0.0.1:${v4.port}/hook`,
      "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
      `http://[::1]:${v6Port}/hook`,
      `http://localhost:${v4.port}/hook`,
      `http://[::ffff:127.0.0.1]:${v4.port}/hook`,
      `http://2130706433:${v4.port}/hook`,
      "file:///etc/passwd",
    ];
    const ids: bigint[] = [];
    for (const [i, url] of urls.entries()) {
      ids.push(
        (
          await enqueue(t.db, {
            stream: `ssrf:${i}`,
            kind: "order.success",
            url,
            body: "{}",
            secretRef: "system",
          })
        ).id,
      );
    }
    const w = createCallbackWorker({ db: t.db, log: memoryLog(), config });
    await w.drain();
    await new Promise((r) => setTimeout(r, 200));
    for (const [i, id] of ids.entries()) {
      const row = await callbackRow(t.db, id);
      assert.equal(row.status, "failed", urls[i]);
      assert.equal(row.attempts, 1, `${urls[i]}: not retried`);
      assert.match(row.last_error ?? "", /loopback|link-local|http or https/, urls[i]);
      assert.match(row.last_error ?? "", /not retried/);
      const [attempt] = await attemptRows(t.db, id);
      assert.equal(attempt?.status_code, null);
    }
    assert.equal(v4.received.length, 0, "nothing reached the IPv4 loopback receiver");
    assert.equal(v6?.received.length ?? 0, 0, "nothing reached the IPv6 loopback receiver");
  });

  it("delivers to loopback when CALLBACK_ALLOW_PRIVATE allows it, through the resolved address", async function () {
    const config = testConfig({ allowPrivateTargets: true });
    const seen: string[] = [];
    // receiver.test does not exist in DNS: delivery works only if the connection uses our answer.
    const resolver = async (host: string) => {
      seen.push(host);
      return [{ address: "127.0.0.1", family: 4 as const }];
    };
    const { id } = await enqueue(t.db, {
      stream: "pin",
      kind: "order.success",
      url: `http://receiver.test:${v4.port}/pinned`,
      body: "{}",
      secretRef: "system",
    });
    await createCallbackWorker({ db: t.db, log: memoryLog(), config, resolver }).drain();
    assert.equal((await callbackRow(t.db, id)).status, "delivered");
    assert.deepEqual(seen, ["receiver.test"]);
    const req = v4.received.at(-1)!;
    assert.equal(req.path, "/pinned");
    assert.equal(req.headers.host, `receiver.test:${v4.port}`);
  });

  it("retries a DNS failure (it may be temporary)", async function () {
    const resolver = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND gone.example"), { code: "ENOTFOUND" });
    };
    const { id } = await enqueue(t.db, {
      stream: "dns",
      kind: "order.success",
      url: "http://gone.example/",
      body: "{}",
      secretRef: "system",
    });
    await createCallbackWorker({
      db: t.db,
      log: memoryLog(),
      config: testConfig({ retry: { ...testConfig().retry, baseDelayMs: 60_000, maxDelayMs: 60_000 } }),
      resolver,
    }).drain();
    const row = await callbackRow(t.db, id);
    assert.equal(row.status, "pending");
    assert.match(row.last_error ?? "", /ENOTFOUND/);
  });
});
