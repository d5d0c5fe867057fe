import { hkdfSync } from "node:crypto";
import { BlockList, isIP } from "node:net";
import { createEnvReader, type Env, type EnvReader } from "./env.ts";
import {
  NETWORK_NAMES,
  UTXO_CURRENCIES,
  addressParams,
  type AddressParams,
  type NetworkName,
  type UtxoCurrency,
} from "../utxo/networks.ts";
import { ExtendedKeyError, parseExtendedPublicKey, type ParsedExtendedKey } from "../utxo/xpub.ts";

export interface EletroPayCurrencyConfig {
  currency: UtxoCurrency;
  network: NetworkName;
  key: ParsedExtendedKey;
  params: AddressParams;
  /** Bitcoin Core-family JSON-RPC URL with credentials, e.g. http://user:pass@127.0.0.1:9332/wallet/eletropay */
  rpcUrl: string;
  /** Confirmations after which a payment is final and callbacks stop. */
  confirmations: number;
}

export interface EletroPayConfig {
  /** True when at least one XPUB_<CUR> is set or ELETROPAY_ETH is on; the listener starts only then. */
  enabled: boolean;
  /**
   * ELETROPAY_ETH: ETH and the default chain's allowlisted tokens through the private API, paid to
   * per-request deposit addresses of the merchant linked to the client (docs/eletropay.md).
   */
  eth: boolean;
  host: string;
  port: number;
  /** IPs and CIDR ranges allowed to reach the private API. */
  allowIps: string[];
  /**
   * When set, every request must carry it in the `x-eletropay-secret` header. Required unless
   * `allowIps` was set and admits no loopback address (allowListExcludesLoopback).
   */
  sharedSecret: string | undefined;
  /** Where payment callbacks go: a base URL or a template with {key}/:key and {currency}/:currency. */
  callbackUrl: string | undefined;
  /** The :key in the callback URL; when unset, the client's token is used. */
  callbackKey: string | undefined;
  /** Secret the delivery worker signs EletroPay callbacks with (secretRef "eletropay"). */
  callbackSecret: string | undefined;
  /** 32-byte AES key derived from ELETROPAY_TOKEN_KEY; encrypts stored client tokens. */
  tokenKey: Uint8Array | undefined;
  currencies: Partial<Record<UtxoCurrency, EletroPayCurrencyConfig>>;
  /**
   * GAP_LIMIT: unused addresses a restored wallet scans past. A client gets no new address while
   * this many issued to it since its last payment are unpaid (409 gap_limit_reached).
   */
  gapLimit: number;
  /** Requests per minute from one client address (IPv6: per /64), any route (ELETROPAY_RATE_LIMIT_PER_IP). */
  rateLimitPerIp: number;
  /** Address requests per minute with one client token (ELETROPAY_RATE_LIMIT_PER_TOKEN). */
  rateLimitPerToken: number;
  /** Unpaid addresses older than this may be handed out again to the same client; null: never. */
  reissueAfterSeconds: number | null;
  dashInstantSendAsConfirmed: boolean;
  pollIntervalMs: number;
  /** Maximum request body in bytes. */
  bodyLimit: number;
}

export const DEFAULT_CONFIRMATIONS: Record<UtxoCurrency, number> = { DASH: 6, LTC: 6, BTC: 3 };

const MAKE_KEY = "openssl rand -hex 32";

function readAllowList(r: EnvReader): string[] {
  const fallback = ["127.0.0.0/8", "::1"];
  const raw = r.raw("ELETROPAY_ALLOW_IPS");
  if (raw === undefined) return fallback;
  const entries = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [ip, prefix, extra] = entry.split("/");
    const family = isIP(ip ?? "");
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= bits);
    if (!family || !prefixOk || extra !== undefined) {
      r.problem(
        `ELETROPAY_ALLOW_IPS: "${entry}" is not an IP address or CIDR range; list IPs or ranges like 127.0.0.1,10.0.0.0/8,::1`,
        "ELETROPAY_ALLOW_IPS",
      );
    }
  }
  if (entries.length === 0) {
    r.problem(
      "ELETROPAY_ALLOW_IPS must list at least one IP or CIDR range, e.g. 127.0.0.0/8,::1",
      "ELETROPAY_ALLOW_IPS",
    );
  }
  return r.failed("ELETROPAY_ALLOW_IPS") ? fallback : entries;
}

/**
 * Whether an allowlist identifies EletroPay by itself: it is set explicitly and no entry admits a
 * loopback address (127.0.0.0/8, ::1). Loopback is shared by every process on the host, so an
 * allowlist that admits it (including the default, 0.0.0.0/0 and ::/0) authenticates nobody.
 */
export function allowListExcludesLoopback(entries: readonly string[]): boolean {
  if (entries.length === 0) return false;
  const loopback = new BlockList();
  loopback.addSubnet("127.0.0.0", 8, "ipv4");
  loopback.addAddress("::1", "ipv6");
  return entries.every((entry) => {
    const [ip = "", prefix] = entry.split("/");
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    const range = new BlockList();
    if (prefix === undefined) range.addAddress(ip, family);
    else range.addSubnet(ip, Number(prefix), family);
    // Two CIDR ranges overlap exactly when one holds the other's first address.
    const overlaps =
      family === "ipv4"
        ? range.check("127.0.0.0", "ipv4") || loopback.check(ip, "ipv4")
        : range.check("::1", "ipv6");
    return !overlaps;
  });
}

/** The fix named when EletroPay would accept unauthenticated callers (start-up, and the listener's 403). */
export const ELETROPAY_AUTH_FIX =
  "set ELETROPAY_SHARED_SECRET (16 or more characters, e.g. `openssl rand -hex 32`) and have EletroPay send it " +
  "in the x-eletropay-secret header, or set ELETROPAY_ALLOW_IPS to EletroPay's own addresses only " +
  "(no loopback: every local process shares it)";

/** Derives the 32-byte token-encryption key; the label keeps it apart from any other use of the secret. */
export function deriveTokenKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, "ethpos", "eletropay client token v1", 32));
}

/** Reads every EletroPay setting through the shared readers (problems are collected, not thrown). */
export function readEletroPayConfig(r: EnvReader): EletroPayConfig {
  const currencies: Partial<Record<UtxoCurrency, EletroPayCurrencyConfig>> = {};
  let anyXpub = false;
  for (const currency of UTXO_CURRENCIES) {
    const xpubName = `XPUB_${currency}`;
    const xpub = r.raw(xpubName);
    if (!xpub) continue;
    anyXpub = true;
    const network = r.oneOf(`${currency}_NETWORK`, NETWORK_NAMES, "mainnet");
    let key: ParsedExtendedKey | undefined;
    if (!r.failed(`${currency}_NETWORK`)) {
      try {
        key = parseExtendedPublicKey(xpub, currency, network, xpubName);
      } catch (error) {
        if (!(error instanceof ExtendedKeyError)) throw error;
        r.problem(error.message, xpubName);
      }
    }
    const rpcName = `${currency}_RPC_URL`;
    const rpcUrl =
      r.raw(rpcName) === undefined
        ? r.required(
            rpcName,
            `when ${xpubName} is set (payments are detected there): set it to the node's JSON-RPC URL, e.g. http://user:pass@127.0.0.1:9332/wallet/eletropay`,
          )
        : r.url(rpcName, ["http:", "https:"]);
    const confirmations = r.int(`${currency}_CONFIRMATIONS`, DEFAULT_CONFIRMATIONS[currency], 1, 1000);
    if (key && rpcUrl) {
      currencies[currency] = {
        currency,
        network,
        key,
        params: addressParams(currency, network),
        rpcUrl: new URL(rpcUrl).toString(),
        confirmations,
      };
    }
  }
  const eth = r.bool("ELETROPAY_ETH", false);
  const enabled = Object.keys(currencies).length > 0 || eth;
  const needsSetup = anyXpub || eth;
  const because = anyXpub ? "when an XPUB_<CUR> is set" : "when ELETROPAY_ETH is on";

  const tokenSecret = r.secret("ELETROPAY_TOKEN_KEY", 32, MAKE_KEY);
  if (needsSetup && r.raw("ELETROPAY_TOKEN_KEY") === undefined) {
    r.required(
      "ELETROPAY_TOKEN_KEY",
      `${because}: it encrypts client tokens at rest; set 32 or more random characters (e.g. \`${MAKE_KEY}\`)`,
    );
  }

  let callbackUrl = r.raw("ELETROPAY_CALLBACK_URL");
  if (callbackUrl !== undefined) {
    try {
      const url = new URL(callbackUrl.replace(/\{(key|currency)\}/g, "x"));
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
    } catch {
      r.problem(
        "ELETROPAY_CALLBACK_URL must be an http(s):// URL, either a base URL or a template with {key} and {currency}",
        "ELETROPAY_CALLBACK_URL",
      );
      callbackUrl = undefined;
    }
  } else if (needsSetup) {
    r.required(
      "ELETROPAY_CALLBACK_URL",
      `${because} (payment callbacks go there): set the http(s):// URL of the receiving system`,
    );
  }
  let callbackKey = r.raw("ELETROPAY_CALLBACK_KEY");
  if (callbackKey !== undefined && !/^[A-Za-z0-9._~-]{1,200}$/.test(callbackKey)) {
    r.problem(
      "ELETROPAY_CALLBACK_KEY may only contain letters, digits and . _ ~ - (at most 200 characters)",
      "ELETROPAY_CALLBACK_KEY",
    );
    callbackKey = undefined;
  }
  const sharedSecret = r.secret("ELETROPAY_SHARED_SECRET", 16, MAKE_KEY);
  const callbackSecret = r.secret("ELETROPAY_CALLBACK_SECRET", 16, MAKE_KEY);
  const reissue = r.int("ADDRESS_REISSUE_AFTER_SECONDS", 0, 0, 10 * 365 * 86_400);
  const allowIps = readAllowList(r);
  // Finding 6: with neither, anyone who can reach the listener could register clients.
  if (
    needsSetup &&
    sharedSecret === undefined &&
    !r.failed("ELETROPAY_SHARED_SECRET", "ELETROPAY_ALLOW_IPS") &&
    !(r.raw("ELETROPAY_ALLOW_IPS") !== undefined && allowListExcludesLoopback(allowIps))
  ) {
    r.problem(
      `EletroPay needs to know its caller ${because}: ${ELETROPAY_AUTH_FIX}`,
      "ELETROPAY_SHARED_SECRET",
    );
  }

  return {
    enabled,
    eth,
    host: r.str("ELETROPAY_HOST", "127.0.0.1"),
    port: r.int("ELETROPAY_PORT", 3001, 0, 65_535),
    allowIps,
    sharedSecret,
    callbackUrl,
    callbackKey,
    callbackSecret,
    tokenKey: tokenSecret === undefined ? undefined : deriveTokenKey(tokenSecret),
    currencies,
    gapLimit: r.int("GAP_LIMIT", 20, 1, 100_000),
    rateLimitPerIp: r.int("ELETROPAY_RATE_LIMIT_PER_IP", 600, 1, 10_000_000),
    rateLimitPerToken: r.int("ELETROPAY_RATE_LIMIT_PER_TOKEN", 60, 1, 10_000_000),
    reissueAfterSeconds: reissue > 0 ? reissue : null,
    dashInstantSendAsConfirmed: r.bool("DASH_INSTANTSEND_AS_CONFIRMED", false),
    pollIntervalMs: r.int("ELETROPAY_POLL_INTERVAL_MS", 5_000, 100, 3_600_000),
    bodyLimit: 4_096,
  };
}

/** The EletroPay settings alone (tests, tools): every problem is reported at once in one ConfigError. */
export function parseEletroPayConfig(env: Env): EletroPayConfig {
  const r = createEnvReader(env);
  const config = readEletroPayConfig(r);
  r.finish();
  return config;
}

/** The callback URL for one client key and currency (DASH, LTC, BTC, ETH or a token symbol). */
export function callbackUrlFor(config: EletroPayConfig, key: string, currency: string): string {
  if (!config.callbackUrl) throw new Error("ELETROPAY_CALLBACK_URL is not configured");
  const template = config.callbackUrl;
  const k = encodeURIComponent(key);
  if (/\{key\}|:key\b/.test(template)) {
    return template.replace(/\{key\}|:key\b/g, k).replace(/\{currency\}|:currency\b/g, currency);
  }
  return `${template.replace(/\/+$/, "")}/v1/payments/${k}/${currency}/`;
}
