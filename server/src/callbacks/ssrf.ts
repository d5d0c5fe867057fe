import { lookup as dnsLookup } from "node:dns/promises";
import { isIPv4, type LookupFunction } from "node:net";
import { blockedAddressReason, blockedHostReason, ipLiteral } from "../lib/ip.ts";

/**
 * Server-side request forgery guard for callback URLs. A URL must be http(s); unless private
 * targets are allowed, its host must not be (nor resolve to) a loopback, private, link-local,
 * unique-local, CGNAT, multicast, reserved or cloud-metadata address. Every address a name
 * resolves to is checked, and the connection is then pinned to the checked address, so a DNS
 * answer that changes between the check and the connect (rebinding) cannot redirect it.
 */

/** Thrown for a URL or target that must never be delivered to: the callback fails, no retry. */
export class CallbackTargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CallbackTargetRefused";
  }
}

/**
 * The checks that need no network: a parseable absolute http(s) URL with a host, and (when
 * private targets are refused) no private IP literal. Producers call this when an order is
 * created so merchants learn of a bad URL at once; the worker repeats it, plus DNS, on every attempt.
 */
export function assertCallbackUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CallbackTargetRefused("callback URL is not a valid absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CallbackTargetRefused(
      `callback URL must use http or https, not ${url.protocol.replace(/:$/, "")}`,
    );
  }
  if (url.hostname === "") throw new CallbackTargetRefused("callback URL has no host");
  if (!allowPrivate) {
    const reason = blockedHostReason(url.hostname);
    if (reason) throw new CallbackTargetRefused(`callback target ${url.hostname} is a ${reason}`);
  }
  return url;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** DNS resolution, injectable in tests. Returns every address of the name. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, order: "verbatim" });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export interface CallbackTarget {
  url: URL;
  /** The address the connection goes to: checked, and pinned through `lookup`. */
  address: string;
  family: 4 | 6;
  /** A `lookup` for node:http that answers with the pinned address only. */
  lookup: LookupFunction;
}

function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as LookupFunction;
}

/**
 * Validates `raw` and resolves its host. With `allowPrivate` false, every resolved address must
 * be public (one bad answer refuses the whole name). DNS failures are thrown as ordinary errors
 * (the caller retries them); refusals as CallbackTargetRefused (never retried).
 */
export async function resolveCallbackTarget(
  raw: string,
  options: { allowPrivate: boolean; resolver?: HostResolver },
): Promise<CallbackTarget> {
  const url = assertCallbackUrl(raw, options.allowPrivate);
  const literal = ipLiteral(url.hostname);
  if (literal !== undefined) {
    const family = isIPv4(literal) ? 4 : 6;
    return { url, address: literal, family, lookup: pinnedLookup(literal, family) };
  }
  const answers = await (options.resolver ?? systemResolver)(url.hostname);
  if (answers.length === 0) throw new Error(`DNS returned no address for ${url.hostname}`);
  if (!options.allowPrivate) {
    for (const answer of answers) {
      const reason = blockedAddressReason(answer.address);
      if (reason) {
        throw new CallbackTargetRefused(
          `callback host ${url.hostname} resolves to a ${reason} address (${answer.address})`,
        );
      }
    }
  }
  const first = answers[0] as ResolvedAddress;
  return {
    url,
    address: first.address,
    family: first.family,
    lookup: pinnedLookup(first.address, first.family),
  };
}
