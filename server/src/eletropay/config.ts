import { hkdfSync } from "node:crypto";
import { isIP } from "node:net";
import { ConfigError } from "../lib/errors.ts";
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
  /** True when at least one XPUB_<CUR> is set; the lead starts the listener only then. */
  enabled: boolean;
  host: string;
  port: number;
  /** IPs and CIDR ranges allowed to reach the private API. */
  allowIps: string[];
  /** When set, every request must carry it in the `x-eletropay-secret` header. */
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
  gapLimit: number;
  /** Unpaid addresses older than this may be handed out again to the same client; null: never. */
  reissueAfterSeconds: number | null;
  dashInstantSendAsConfirmed: boolean;
  pollIntervalMs: number;
  /** Maximum request body in bytes. */
  bodyLimit: number;
}

export const DEFAULT_CONFIRMATIONS: Record<UtxoCurrency, number> = { DASH: 6, LTC: 6, BTC: 3 };

const nonEmpty = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value ? value : undefined;
};

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function parseAllowList(raw: string): string[] {
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
      throw new ConfigError(`ELETROPAY_ALLOW_IPS: "${entry}" is not an IP address or CIDR range`);
    }
  }
  if (entries.length === 0)
    throw new ConfigError("ELETROPAY_ALLOW_IPS must list at least one IP or CIDR range");
  return entries;
}

function parseRpcUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`${name} must be an http(s) URL`);
  return url.toString();
}

/** Derives the 32-byte token-encryption key; the label keeps it apart from any other use of the secret. */
export function deriveTokenKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, "ethpos", "eletropay client token v1", 32));
}

/** Reads and validates every EletroPay setting once, at boot. Errors name the variable. */
export function parseEletroPayConfig(env: NodeJS.ProcessEnv): EletroPayConfig {
  const currencies: Partial<Record<UtxoCurrency, EletroPayCurrencyConfig>> = {};
  for (const currency of UTXO_CURRENCIES) {
    const xpub = nonEmpty(env, `XPUB_${currency}`);
    if (!xpub) continue;
    const networkRaw = nonEmpty(env, `${currency}_NETWORK`) ?? "mainnet";
    if (!(NETWORK_NAMES as readonly string[]).includes(networkRaw)) {
      throw new ConfigError(
        `${currency}_NETWORK must be one of ${NETWORK_NAMES.join(", ")}, got "${networkRaw}"`,
      );
    }
    const network = networkRaw as NetworkName;
    let key: ParsedExtendedKey;
    try {
      key = parseExtendedPublicKey(xpub, currency, network, `XPUB_${currency}`);
    } catch (error) {
      if (error instanceof ExtendedKeyError) throw new ConfigError(error.message);
      throw error;
    }
    const rpcRaw = nonEmpty(env, `${currency}_RPC_URL`);
    if (!rpcRaw) {
      throw new ConfigError(
        `${currency}_RPC_URL is required when XPUB_${currency} is set (payments are detected there)`,
      );
    }
    currencies[currency] = {
      currency,
      network,
      key,
      params: addressParams(currency, network),
      rpcUrl: parseRpcUrl(`${currency}_RPC_URL`, rpcRaw),
      confirmations: integer(env, `${currency}_CONFIRMATIONS`, DEFAULT_CONFIRMATIONS[currency], 1, 1000),
    };
  }
  const enabled = Object.keys(currencies).length > 0;

  const tokenSecret = nonEmpty(env, "ELETROPAY_TOKEN_KEY");
  if (tokenSecret !== undefined && tokenSecret.length < 32) {
    throw new ConfigError("ELETROPAY_TOKEN_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)");
  }
  if (enabled && tokenSecret === undefined) {
    throw new ConfigError(
      "ELETROPAY_TOKEN_KEY is required when an XPUB_<CUR> is set: it encrypts client tokens at rest (e.g. `openssl rand -hex 32`)",
    );
  }

  const callbackUrl = nonEmpty(env, "ELETROPAY_CALLBACK_URL");
  if (callbackUrl !== undefined) {
    try {
      const url = new URL(callbackUrl.replace(/\{(key|currency)\}/g, "x"));
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
    } catch {
      throw new ConfigError("ELETROPAY_CALLBACK_URL must be an http(s) URL");
    }
  } else if (enabled) {
    throw new ConfigError(
      "ELETROPAY_CALLBACK_URL is required when an XPUB_<CUR> is set (payment callbacks go there)",
    );
  }
  const callbackKey = nonEmpty(env, "ELETROPAY_CALLBACK_KEY");
  if (callbackKey !== undefined && !/^[A-Za-z0-9._~-]{1,200}$/.test(callbackKey)) {
    throw new ConfigError("ELETROPAY_CALLBACK_KEY may only contain letters, digits and . _ ~ -");
  }
  const sharedSecret = nonEmpty(env, "ELETROPAY_SHARED_SECRET");
  if (sharedSecret !== undefined && sharedSecret.length < 16) {
    throw new ConfigError("ELETROPAY_SHARED_SECRET must be at least 16 characters");
  }
  const callbackSecret = nonEmpty(env, "ELETROPAY_CALLBACK_SECRET");
  if (callbackSecret !== undefined && callbackSecret.length < 16) {
    throw new ConfigError("ELETROPAY_CALLBACK_SECRET must be at least 16 characters");
  }
  const reissue = integer(env, "ADDRESS_REISSUE_AFTER_SECONDS", 0, 0, 10 * 365 * 86_400);

  return {
    enabled,
    host: nonEmpty(env, "ELETROPAY_HOST") ?? "127.0.0.1",
    port: integer(env, "ELETROPAY_PORT", 3001, 0, 65_535),
    allowIps: parseAllowList(nonEmpty(env, "ELETROPAY_ALLOW_IPS") ?? "127.0.0.0/8,::1"),
    sharedSecret,
    callbackUrl,
    callbackKey,
    callbackSecret,
    tokenKey: tokenSecret === undefined ? undefined : deriveTokenKey(tokenSecret),
    currencies,
    gapLimit: integer(env, "GAP_LIMIT", 20, 1, 100_000),
    reissueAfterSeconds: reissue > 0 ? reissue : null,
    dashInstantSendAsConfirmed: boolean(env, "DASH_INSTANTSEND_AS_CONFIRMED", false),
    pollIntervalMs: integer(env, "ELETROPAY_POLL_INTERVAL_MS", 5_000, 100, 3_600_000),
    bodyLimit: 4_096,
  };
}

/** The callback URL for one client key and currency. */
export function callbackUrlFor(config: EletroPayConfig, key: string, currency: UtxoCurrency): string {
  if (!config.callbackUrl) throw new Error("ELETROPAY_CALLBACK_URL is not configured");
  const template = config.callbackUrl;
  const k = encodeURIComponent(key);
  if (/\{key\}|:key\b/.test(template)) {
    return template.replace(/\{key\}|:key\b/g, k).replace(/\{currency\}|:currency\b/g, currency);
  }
  return `${template.replace(/\/+$/, "")}/v1/payments/${k}/${currency}/`;
}
