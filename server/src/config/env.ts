import { ConfigProblems } from "./errors.ts";

/**
 * The one set of readers for environment variables. A reader never throws: each problem is
 * recorded (naming the variable and what a valid value looks like) and a fallback is returned, so
 * one pass over the configuration finds every problem. `finish()` then throws them all at once.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvReader {
  readonly env: Env;
  /** The trimmed value, or undefined when unset or blank. */
  raw(name: string): string | undefined;
  /** Records a problem; `names` are the variables it concerns (see `failed`). */
  problem(message: string, ...names: string[]): void;
  /** True when a problem was recorded for any of these variables (skip checks that combine them). */
  failed(...names: string[]): boolean;
  /** A required value; `why` completes "NAME is required …" with the reason and the fix. */
  required(name: string, why: string): string | undefined;
  str(name: string, fallback: string): string;
  optionalStr(name: string): string | undefined;
  int(name: string, fallback: number, min?: number, max?: number): number;
  optionalInt(name: string, min?: number, max?: number): number | undefined;
  bigint(name: string, what: string): bigint | undefined;
  bool(name: string, fallback: boolean): boolean;
  oneOf<const T extends string>(name: string, values: readonly T[], fallback: T): T;
  url(name: string, protocols: readonly string[]): string | undefined;
  address(name: string): `0x${string}` | undefined;
  /** A non-negative decimal like "5.00" or "3000", returned as an exact string. */
  decimal(name: string, fallback: string | undefined): string | undefined;
  /** A secret of at least `minLength` characters; `example` says how to make one. */
  secret(name: string, minLength: number, example?: string): string | undefined;
  readonly problems: readonly string[];
  /** Throws one ConfigProblems listing every recorded problem; returns when there is none. */
  finish(): void;
}

const protocolList = (protocols: readonly string[]) => protocols.map((p) => `${p}//`).join(" or ");

export function createEnvReader(env: Env): EnvReader {
  const problems: string[] = [];
  const failedNames = new Set<string>();

  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const problem = (message: string, ...names: string[]) => {
    for (const name of names) failedNames.add(name);
    // A global variable read as every chain's default is reported once.
    if (!problems.includes(message)) problems.push(message);
  };
  const int = (name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value)) {
      problem(`${name} must be a whole number from ${min} to ${max}, got "${value}"`, name);
      return fallback;
    }
    const parsed = Number(value);
    if (parsed < min || parsed > max) {
      problem(`${name} must be between ${min} and ${max}, got ${value}`, name);
      return fallback;
    }
    return parsed;
  };

  return {
    env,
    raw,
    problem,
    failed: (...names) => names.some((name) => failedNames.has(name)),
    required(name, why) {
      const value = raw(name);
      if (value === undefined) problem(`${name} is required ${why}`, name);
      return value;
    },
    str: (name, fallback) => raw(name) ?? fallback,
    optionalStr: raw,
    int,
    optionalInt(name, min, max) {
      return raw(name) === undefined ? undefined : int(name, 0, min, max);
    },
    bigint(name, what) {
      const value = raw(name);
      if (value === undefined) return undefined;
      if (!/^\d+$/.test(value)) {
        problem(`${name} must be ${what} (a whole number like 12345), got "${value}"`, name);
        return undefined;
      }
      return BigInt(value);
    },
    bool(name, fallback) {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (["1", "true", "yes", "on"].includes(value)) return true;
      if (["0", "false", "no", "off"].includes(value)) return false;
      problem(`${name} must be true or false, got "${value}"`, name);
      return fallback;
    },
    oneOf(name, values, fallback) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!(values as readonly string[]).includes(value)) {
        problem(`${name} must be one of ${values.join(", ")}, got "${value}"`, name);
        return fallback;
      }
      return value as (typeof values)[number];
    },
    url(name, protocols) {
      const value = raw(name);
      if (value === undefined) return undefined;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        // The value is not echoed: URLs often carry credentials.
        problem(`${name} is not a valid URL; set it to a URL starting with ${protocolList(protocols)}`, name);
        return undefined;
      }
      if (!protocols.includes(parsed.protocol)) {
        problem(
          `${name} must be a URL starting with ${protocolList(protocols)}, got one starting with ${parsed.protocol}//`,
          name,
        );
        return undefined;
      }
      return value;
    },
    address(name) {
      const value = raw(name);
      if (value === undefined) return undefined;
      if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
        problem(
          `${name} must be a 0x-prefixed 20-byte hex address (0x and 40 hex digits), got "${value}"`,
          name,
        );
        return undefined;
      }
      return value as `0x${string}`;
    },
    decimal(name, fallback) {
      const value = raw(name) ?? fallback;
      if (value === undefined) return undefined;
      if (!/^\d+(\.\d+)?$/.test(value)) {
        problem(`${name} must be a decimal number like 12.34, got "${value}"`, name);
        return fallback;
      }
      return value;
    },
    secret(name, minLength, example) {
      const value = raw(name);
      if (value === undefined) return undefined;
      if (value.length < minLength) {
        problem(
          `${name} must be at least ${minLength} characters long${example ? ` (e.g. \`${example}\`)` : ""}`,
          name,
        );
        return undefined;
      }
      return value;
    },
    get problems() {
      return problems;
    },
    finish() {
      if (problems.length > 0) throw new ConfigProblems([...problems]);
    },
  };
}

/**
 * A share such as RATE_MAX_SPREAD or PEG_MAX_DEVIATION: "2%" or "0.02" (from 0 to 1) → millionths,
 * exactly; `fallback` when unset. `what` names it in the message ("a share of the peg").
 */
export function readShare(r: EnvReader, name: string, fallback: bigint, what = "a share"): bigint {
  const value = r.raw(name);
  if (value === undefined) return fallback;
  const percent = /^(\d{1,3})(?:\.(\d{1,4}))?%$/.exec(value);
  const share = /^(0|1)(?:\.(\d{1,6}))?$/.exec(value);
  const ppm = percent
    ? BigInt(percent[1] as string) * 10_000n + BigInt((percent[2] ?? "").padEnd(4, "0"))
    : share
      ? BigInt(share[1] as string) * 1_000_000n + BigInt((share[2] ?? "").padEnd(6, "0"))
      : undefined;
  if (ppm === undefined || ppm > 1_000_000n) {
    r.problem(`${name} must be ${what} like 2% or 0.02 (at most 100%), got "${value}"`, name);
    return fallback;
  }
  return ppm;
}
