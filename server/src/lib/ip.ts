import { isIPv4, isIPv6 } from "node:net";

/**
 * Classification of IP addresses for the callback SSRF guard and the order validator: which
 * addresses are not public unicast (loopback, private, link-local, unique-local, CGNAT, multicast,
 * reserved, cloud metadata), in IPv4 and every IPv6 form that embeds IPv4.
 */

type V4Range = readonly [base: number, prefix: number, reason: string];

const v4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

const BLOCKED_V4: readonly V4Range[] = [
  [v4(0, 0, 0, 0), 8, "unspecified"],
  [v4(10, 0, 0, 0), 8, "private"],
  [v4(100, 64, 0, 0), 10, "carrier-grade NAT"],
  [v4(127, 0, 0, 0), 8, "loopback"],
  [v4(169, 254, 0, 0), 16, "link-local (cloud metadata)"],
  [v4(172, 16, 0, 0), 12, "private"],
  [v4(192, 0, 0, 0), 24, "IETF protocol assignment"],
  [v4(192, 0, 2, 0), 24, "documentation"],
  [v4(192, 88, 99, 0), 24, "6to4 relay"],
  [v4(192, 168, 0, 0), 16, "private"],
  [v4(198, 18, 0, 0), 15, "benchmarking"],
  [v4(198, 51, 100, 0), 24, "documentation"],
  [v4(203, 0, 113, 0), 24, "documentation"],
  [v4(168, 63, 129, 16), 32, "cloud metadata"],
  [v4(224, 0, 0, 0), 4, "multicast"],
  [v4(240, 0, 0, 0), 4, "reserved"],
];

function parseV4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = text.split(".").map(Number);
  return v4(a, b, c, d);
}

function classifyV4(value: number): string | undefined {
  for (const [base, prefix, reason] of BLOCKED_V4) {
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if ((value & mask) >>> 0 === base) return reason;
  }
  return undefined;
}

/** Eight 16-bit groups, or undefined when `text` is not an IPv6 address. */
function parseV6(text: string): number[] | undefined {
  const address = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!isIPv6(address)) return undefined;
  let head = address;
  const tailGroups: number[] = [];
  // An embedded dotted IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted?.[1]) {
    const value = parseV4(dotted[1]);
    if (value === undefined) return undefined;
    tailGroups.push(value >>> 16, value & 0xffff);
    head = address.slice(0, -dotted[1].length);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const [left = "", right] = head.split("::");
  const toGroups = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const leftGroups = toGroups(left);
  const rightGroups = [...(right === undefined ? [] : toGroups(right)), ...tailGroups];
  if (right === undefined) return [...leftGroups, ...tailGroups];
  const zeros = 8 - leftGroups.length - rightGroups.length;
  return [...leftGroups, ...Array<number>(Math.max(0, zeros)).fill(0), ...rightGroups];
}

function classifyV6(g: number[]): string | undefined {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = ((g6 << 16) | g7) >>> 0;
  const firstFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (firstFiveZero && g5 === 0 && g6 === 0 && g7 === 0) return "unspecified";
  if (firstFiveZero && g5 === 0 && g6 === 0 && g7 === 1) return "loopback";
  if (firstFiveZero && g5 === 0xffff) return classifyV4(embedded) ?? undefined; // IPv4-mapped
  if (firstFiveZero && g5 === 0) return classifyV4(embedded) ?? "IPv4-compatible (deprecated)";
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return classifyV4(embedded); // NAT64
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return "local-use NAT64";
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return "discard-only";
  if (g0 === 0x2001 && g1 === 0xdb8) return "documentation";
  if (g0 === 0x2001 && g1 === 0) return "Teredo";
  if (g0 === 0x2002) return classifyV4(((g1 << 16) | g2) >>> 0); // 6to4 embeds the IPv4 address
  if ((g0 & 0xfe00) === 0xfc00) return "unique-local";
  if ((g0 & 0xffc0) === 0xfe80) return "link-local";
  if ((g0 & 0xffc0) === 0xfec0) return "site-local (deprecated)";
  if ((g0 & 0xff00) === 0xff00) return "multicast";
  return undefined;
}

/**
 * Why an IP address is not a public unicast address (e.g. "loopback"), or undefined when it is
 * public. Covers IPv4, IPv6 and IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4).
 * Throws for text that is not an IP address.
 */
export function blockedAddressReason(ip: string): string | undefined {
  const asV4 = parseV4(ip);
  if (asV4 !== undefined) return classifyV4(asV4);
  const asV6 = parseV6(ip);
  if (asV6 !== undefined && asV6.length === 8) return classifyV6(asV6);
  throw new Error(`not an IP address: ${ip}`);
}

/** The hostname as an IP literal without brackets, or undefined when it is a name. */
export function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[|\]$/g, "");
  return isIPv4(bare) || isIPv6(bare) ? bare : undefined;
}

/**
 * Why a URL host is not a public target, or undefined when it may be one as far as can be told
 * without DNS: a non-public IP literal, or a `localhost` name (RFC 6761: always loopback).
 */
export function blockedHostReason(hostname: string): string | undefined {
  const literal = ipLiteral(hostname);
  if (literal !== undefined) {
    const reason = blockedAddressReason(literal);
    return reason === undefined ? undefined : `${reason} address`;
  }
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback name";
  return undefined;
}

/**
 * The client an address stands for, for per-client limits: an IPv4 address as it is (an
 * IPv4-mapped IPv6 address as its IPv4), an IPv6 address as its /64 (`2001:db8:1:2::/64`), since
 * one subscriber or host usually holds a whole /64 and can pick any address in it. Text that is not
 * an IP address is returned unchanged.
 */
export function clientKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const groups = parseV6(ip);
  if (!groups || groups.length !== 8) return ip;
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) {
    return `${g6 >>> 8}.${g6 & 0xff}.${g7 >>> 8}.${g7 & 0xff}`;
  }
  return `${[g0, g1, g2, g3].map((g) => g.toString(16)).join(":")}::/64`;
}
