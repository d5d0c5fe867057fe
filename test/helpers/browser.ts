/// <reference lib="dom" />
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startNodeSystem, type NodeSystem, type NodeSystemOptions } from "../support/node-system.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--host-resolver-rules=MAP shop.lan 127.0.0.1",
];
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** What the injected test wallet does; the test may change it while the page is open (setWallet). */
export interface WalletMode {
  /** The account eth_requestAccounts returns (a dev account of the node signs for it). */
  account: string;
  /** Answer eth_chainId with this chain, and refuse to switch (code 4001). */
  wrongChain?: number | undefined;
  /** Refuse personal_sign and eth_sendTransaction as a user would (code 4001). */
  rejectSign?: boolean | undefined;
  /** Refuse eth_requestAccounts as a user would (code 4001). */
  rejectAccounts?: boolean | undefined;
}

/**
 * The injected test wallet: an EIP-1193 provider announced by EIP-6963, forwarding to the node
 * through `window.__testWalletRpc` (the node holds Hardhat's dev keys and signs with them). Every
 * request is recorded; the accounts it answers itself. Plain JavaScript in a string: the page runs
 * it as written.
 */
const TEST_WALLET = `(initial) => {
  window.__wallet = initial;
  const rpc = (method, params, forward = true) => window.__testWalletRpc(method, params, forward);
  const fail = (code, message) => Object.assign(new Error(message), { code });
  const provider = {
    async request({ method, params = [] }) {
      const mode = window.__wallet;
      if (method === "eth_requestAccounts" || method === "eth_accounts") {
        await rpc(method, params, false);
        if (mode.rejectAccounts) throw fail(4001, "User rejected the request.");
        return [mode.account];
      }
      if (mode.wrongChain !== undefined) {
        if (method === "eth_chainId") return "0x" + mode.wrongChain.toString(16);
        if (method === "wallet_switchEthereumChain") {
          await rpc(method, params);
          throw fail(4001, "User rejected the request.");
        }
      }
      if (method === "wallet_switchEthereumChain") return null;
      if (mode.rejectSign && (method === "personal_sign" || method === "eth_sendTransaction")) {
        await rpc("rejected_" + method, params);
        throw fail(4001, "User rejected the request.");
      }
      const answer = await rpc(method, params);
      if (answer.error) throw fail(answer.error.code, answer.error.message);
      return answer.result;
    },
    on() {},
    removeListener() {},
  };
  const info = Object.freeze({
    uuid: "5d9f1e0e-5b1c-4c8e-9d43-0f6a3b0c7e21",
    name: "Test Wallet",
    icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'%3E%3Crect width='10' height='10' rx='2' fill='%23e2761b'/%3E%3C/svg%3E",
    rdns: "org.example.testwallet",
  });
  const announce = () =>
    window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
}`;

/**
 * Gives `page` (before it loads) the injected test wallet in `mode`, forwarding to the node at
 * `rpcUrl`; every request it gets is pushed to `calls`.
 */
export async function installTestWallet(
  page: Page,
  mode: WalletMode,
  rpcUrl: string,
  calls: { method: string; params: unknown }[],
): Promise<void> {
  await page.exposeFunction(
    "__testWalletRpc",
    async (method: string, params: unknown[], forward: boolean) => {
      calls.push({ method, params });
      if (!forward || method.startsWith("rejected_")) return { result: null };
      const res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: calls.length, method, params }),
      });
      return (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
    },
  );
  await page.addInitScript(`(${TEST_WALLET})(${JSON.stringify(mode)})`);
}

export interface Opened {
  page: Page;
  context: BrowserContext;
  problems: string[];
  requested: string[];
  walletCalls: { method: string; params: unknown }[];
  origin: string;
  setWallet(mode: WalletMode): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a page that records console errors, page errors, failed requests and every URL requested;
 * with `wallet`, the page gets the injected test wallet backed by the node at `rpcUrl`.
 */
export async function openPage(
  browser: Browser,
  url: string,
  options: { wallet?: WalletMode; rpcUrl?: string; width?: number; height?: number } = {},
): Promise<Opened> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1100, height: options.height ?? 1000 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const requested: string[] = [];
  const walletCalls: { method: string; params: unknown }[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The page closes its own event stream once the order is final: an aborted request, no failure.
    if (r.url().endsWith("/events") && r.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("request", (r) => requested.push(r.url()));
  if (options.wallet) await installTestWallet(page, options.wallet, options.rpcUrl as string, walletCalls);
  const response = await page.goto(url);
  assert.equal(response?.status(), 200);
  return {
    page,
    context,
    problems,
    requested,
    walletCalls,
    origin: new URL(url).origin,
    setWallet: async (mode) => {
      await page.evaluate((m) => Object.assign(window, { __wallet: m }), mode);
    },
    close: () => context.close(),
  };
}

/** Only the page's own server was contacted, and nothing went wrong in the page. */
export function assertClean(opened: Pick<Opened, "problems" | "requested" | "origin">) {
  const foreign = opened.requested.filter(
    (u) => !u.startsWith(`${opened.origin}/`) && !u.startsWith("data:"),
  );
  assert.deepEqual(foreign, [], "no third-party requests");
  assert.deepEqual(opened.problems, []);
}

/** axe-core on the page as it is: no serious or critical violation. */
export async function checkAccessibility(page: Page, label: string) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (...a: unknown[]) => Promise<unknown> } }).axe;
    const result = (await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    })) as { violations: { id: string; impact: string; nodes: { target: string[] }[] }[] };
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], `${label}: axe-core found serious or critical violations`);
}

export interface BrowserSystem extends NodeSystem {
  /** The API's URL (the system listens on loopback; PUBLIC_URL is this URL). */
  baseUrl: string;
  browser: Browser;
}

/**
 * The real stack for a browser: a node system (test/support/node-system.ts) listening on loopback
 * with its own indexer following the chain (RUN_INDEXER=true, POLL_INTERVAL_MS=20, unless `env`
 * says otherwise), and Chromium. `close` closes the browser, then the system.
 */
export async function startBrowserSystem(options: NodeSystemOptions = {}): Promise<BrowserSystem> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_PATH`,
    );
  }
  const { env } = options;
  const node = await startNodeSystem({
    ...options,
    listen: true,
    env: (chain, deployed) => ({
      RUN_INDEXER: "true",
      POLL_INTERVAL_MS: "20",
      ...(typeof env === "function" ? env(chain, deployed) : env),
    }),
  });
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  } catch (error) {
    await node.close();
    throw error;
  }
  return {
    ...node,
    baseUrl: node.baseUrl as string,
    browser,
    async close() {
      await browser.close();
      await node.close();
    },
  };
}
