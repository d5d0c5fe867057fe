import { ConfigError } from "../lib/errors.ts";

/**
 * Small, strict readers for environment variables. Each failure names the variable and says
 * what a valid value looks like, so a bad configuration stops start-up with one clear line.
 */
export type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

export function str(env: Env, name: string, fallback?: string): string {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) throw new ConfigError(`${name} is required`);
  return value;
}

export function optionalStr(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function int(
  env: Env,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max)
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return parsed;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

export function oneOf<const T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(values as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${values.join(", ")}, got "${value}"`);
  }
  return value as T;
}

export function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${value}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(" or ")}, got "${parsed.protocol}"`);
  }
  return value;
}

export function address(env: Env, name: string): `0x${string}` | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  if (!/^0x[0-9a-fA-F]{40}$/.test(value))
    throw new ConfigError(`${name} must be a 0x-prefixed 20-byte hex address`);
  return value as `0x${string}`;
}

/** A non-negative decimal like "5.00" or "3000", returned as an exact string. */
export function decimal(env: Env, name: string, fallback: string | undefined): string | undefined {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value))
    throw new ConfigError(`${name} must be a decimal number like 12.34, got "${value}"`);
  return value;
}
