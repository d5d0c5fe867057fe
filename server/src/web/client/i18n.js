// What the pages' scripts (pay.js, subscription.js, pos.ts) and the server share to write a
// message in the customer's language: placeholders, exact amounts, the countdown and dates.
// Plain JavaScript, served same-origin like abi.js; the server imports it too (types: i18n.d.ts).

/** `{name}` placeholders filled from `vars`; unknown ones are left visible. */
export function fill(template, vars = {}) {
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole,
  );
}

/**
 * An exact decimal string ("1234.500000000000000001") with the locale's digit grouping and
 * decimal sign, never through a float: the integer part is formatted as a BigInt, the fraction
 * is kept digit for digit. Anything that is not a plain decimal comes back as it is.
 */
export function formatAmount(decimal, locale) {
  const text = String(decimal);
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return text;
  const whole = new Intl.NumberFormat(locale).format(BigInt(m[2]));
  if (!m[3]) return m[1] + whole;
  const sign = new Intl.NumberFormat(locale).formatToParts(1.5).find((p) => p.type === "decimal");
  return m[1] + whole + (sign ? sign.value : ".") + m[3];
}

/** A message from `messages`, with `vars` filled and `amounts` (decimal strings) formatted for `locale`. */
export function message(messages, locale, key, vars = {}, amounts = {}) {
  const all = { ...vars };
  for (const [name, value] of Object.entries(amounts)) all[name] = formatAmount(value, locale);
  const template = messages[key];
  return template === undefined ? key : fill(template, all);
}

/** Seconds left as "mm:ss" in the locale's digits. */
export function formatCountdown(seconds, locale) {
  const two = new Intl.NumberFormat(locale, { minimumIntegerDigits: 2, useGrouping: false });
  const left = Math.max(0, Math.floor(seconds));
  return two.format(Math.floor(left / 60)) + ":" + two.format(left % 60);
}

/** A date and time (ISO 8601) as the locale writes it, in UTC unless `timeZone` is given. */
export function formatDateTime(iso, locale, timeZone = "UTC") {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale, { dateStyle: "long", timeStyle: "short", timeZone }).format(date);
}

/** A date (ISO 8601) as the locale writes it, in UTC. */
export function formatDate(iso, locale) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale, { dateStyle: "long", timeZone: "UTC" }).format(date);
}

/**
 * A message whose placeholders become nodes (a <strong> amount, a <code> address): the text
 * between them is added as text. Used where a sentence holds marked-up parts.
 */
export function fillNodes(template, nodes) {
  const out = [];
  let last = 0;
  for (const m of template.matchAll(/\{(\w+)\}/g)) {
    if (m.index > last) out.push(template.slice(last, m.index));
    const node = nodes[m[1]];
    out.push(node === undefined ? m[0] : node);
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push(template.slice(last));
  return out;
}
