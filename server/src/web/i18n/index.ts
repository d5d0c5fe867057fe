/**
 * The pages' languages: which one a request gets, and the message catalogues.
 *
 * A page's language is chosen by `?lang=`, then the browser's `Accept-Language` (negotiated with
 * the `negotiator` package, the one Express and Fastify's accepts use), then the merchant's
 * default, then English. Each page keeps its messages in one catalogue (`messages/<page>.ts`)
 * made with `defineMessages`: English defines the keys, and the type checker refuses a catalogue
 * where another language lacks one (test/server/i18n.test.ts checks the same at run time, and
 * that no Portuguese or Spanish text is left in English).
 *
 * Placeholders are `{name}`; `translate` fills them, and leaves escaping to the caller (pages
 * escape with `escapeHtml`, client scripts set `textContent`).
 */
import Negotiator from "negotiator";

export const LOCALES = ["en", "pt-BR", "es"] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "en";

/** The language names a picker shows, each in its own language. */
export const LOCALE_NAMES: Record<Locale, string> = {
  en: "English",
  "pt-BR": "Português (Brasil)",
  es: "Español",
};

/** `pt`, `pt-br`, `PT_BR`, `es-419`… to a supported locale, or null. */
export function toLocale(tag: string | null | undefined): Locale | null {
  if (!tag) return null;
  const lower = tag.trim().replace(/_/g, "-").toLowerCase();
  if (lower === "") return null;
  const exact = LOCALES.find((locale) => locale.toLowerCase() === lower);
  if (exact) return exact;
  const primary = lower.split("-")[0];
  return LOCALES.find((locale) => locale.toLowerCase().split("-")[0] === primary) ?? null;
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

/**
 * The request's language: `?lang=` first (a customer's explicit pick), then the best match in
 * `Accept-Language` (quality values honoured; `pt-PT` still finds Portuguese), then the
 * merchant's default, then English.
 */
export function pickLocale(request: {
  query?: string | null;
  acceptLanguage?: string | null;
  fallback?: string | null;
}): Locale {
  const asked = toLocale(request.query);
  if (asked) return asked;
  if (request.acceptLanguage) {
    const negotiator = new Negotiator({ headers: { "accept-language": request.acceptLanguage } });
    // Full tags first (pt-BR), then primary languages (pt), in the browser's order of preference.
    for (const tag of negotiator.languages()) {
      if (tag === "*") break;
      const locale = toLocale(tag);
      if (locale) return locale;
    }
  }
  return toLocale(request.fallback) ?? DEFAULT_LOCALE;
}

/** A page's messages in every language, English defining the keys. */
export type Catalogue<K extends string> = { readonly [L in Locale]: Readonly<Record<K, string>> };

export function defineMessages<const E extends Record<string, string>>(catalogue: {
  en: E;
  "pt-BR": Record<keyof E, string>;
  es: Record<keyof E, string>;
}): Catalogue<keyof E & string> {
  return catalogue;
}

/** The message `key` in `locale`, with `{name}` placeholders filled from `vars`. */
export function translate<K extends string>(
  catalogue: Catalogue<K>,
  locale: Locale,
  key: K,
  vars: Readonly<Record<string, string | number>> = {},
): string {
  const template = catalogue[locale][key] ?? catalogue.en[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

/** A translator bound to one catalogue and locale: `t("key", { n: 1 })`. */
export function translator<K extends string>(catalogue: Catalogue<K>, locale: Locale) {
  return (key: K, vars?: Readonly<Record<string, string | number>>) =>
    translate(catalogue, locale, key, vars);
}

/** Messages for a client script: embedded in the page as JSON, read by the script at load. */
export function clientMessages<K extends string>(catalogue: Catalogue<K>, locale: Locale): Record<K, string> {
  return { ...catalogue[locale] };
}
