/**
 * A strict parser of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written for the tests from the
 * format's description, independent of prom-client (the library that renders /metrics). It throws
 * on anything the format does not allow, naming the line:
 * - metric and label names outside `[a-zA-Z_:][a-zA-Z0-9_:]*` and `[a-zA-Z_][a-zA-Z0-9_]*` (and `__` names);
 * - a label value with an unknown escape or no closing quote, a label named twice;
 * - a value or timestamp that is not a number (`NaN`, `+Inf`, `-Inf` are numbers);
 * - a second HELP or TYPE for one family, a TYPE after its family's first sample, an unknown type;
 * - a family's lines that are not one group, a sample (name and labels) given twice;
 * - histogram or summary samples without their suffixes, a counter or a bucket below 0;
 * - text that does not end in a line feed.
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  /** The sample's own name (for a histogram: `x_bucket`, `x_sum`, `x_count`). */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly MetricType[] = ["counter", "gauge", "histogram", "summary", "untyped"];
/** Go's strconv.ParseFloat, which the format names: decimal or exponent forms (no hex floats here). */
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseFloatStrict(text: string, what: string): number {
  // ParseFloat takes NaN, Inf and Infinity in any case, the infinities with a sign (prom-client writes "Nan").
  if (/^nan$/i.test(text)) return Number.NaN;
  const inf = /^([+-]?)inf(inity)?$/i.exec(text);
  if (inf) return inf[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!FLOAT.test(text)) throw new Error(`${what} "${text}" is not a number`);
  return Number(text);
}

/** The family a sample belongs to: its name, less a histogram's or summary's suffix. */
function familyOf(sampleName: string, types: Map<string, MetricType>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const type = types.get(base);
    if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) return base;
  }
  return sampleName;
}

function unescapeHelp(text: string, line: number): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    throw new Error(`line ${line}: HELP has an unknown escape "\\${c}"`);
  });
}

/** Parses `{a="1",b="x\"y"}` at `text[start]`; returns the labels and the index after `}`. */
function parseLabels(
  text: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const fail = (why: string): never => {
    throw new Error(`line ${line}: ${why} at column ${i + 1}`);
  };
  for (;;) {
    if (text[i] === "}") return { labels, end: i + 1 };
    const nameMatch = /^[^=]*/.exec(text.slice(i));
    const name = (nameMatch?.[0] ?? "").trim();
    if (!LABEL_NAME.test(name)) fail(`label name "${name}" is not valid`);
    if (name.startsWith("__")) fail(`label name "${name}" is reserved`);
    if (Object.hasOwn(labels, name)) fail(`label "${name}" is given twice`);
    i += (nameMatch?.[0] ?? "").length;
    if (text[i] !== "=") fail("expected =");
    i++;
    if (text[i] !== '"') fail("expected a quoted label value");
    i++;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) fail("label value has no closing quote");
      if (c === '"') break;
      if (c === "\\") {
        const next = text[i + 1];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else fail(`unknown escape "\\${next ?? ""}" in a label value`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail("expected , or }");
  }
}

const sampleKey = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",")}}`;

/** Parses a whole exposition, strictly; the families in the order they appear. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the text does not end in a line feed");
  const families = new Map<string, Family>();
  const types = new Map<string, MetricType>();
  const helps = new Set<string>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const enter = (name: string, line: number) => {
    if (current === name) return;
    if (closed.has(name)) throw new Error(`line ${line}: the lines of ${name} are not one group`);
    if (current !== undefined) closed.add(current);
    current = name;
  };
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: types.get(name) ?? "untyped", help: undefined, samples: [] };
      families.set(name, f);
    }
    return f;
  };

  const lines = text.split("\n");
  lines.pop(); // after the last line feed
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // a comment
      const [, keyword, name = "", rest = ""] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: metric name "${name}" is not valid`);
      enter(name, line);
      if (keyword === "HELP") {
        if (helps.has(name)) throw new Error(`line ${line}: a second HELP for ${name}`);
        helps.add(name);
        family(name).help = unescapeHelp(rest, line);
      } else {
        const type = rest.trim() as MetricType;
        if (!TYPES.includes(type)) throw new Error(`line ${line}: unknown type "${rest}" for ${name}`);
        if (types.has(name)) throw new Error(`line ${line}: a second TYPE for ${name}`);
        if (families.get(name)?.samples.length)
          throw new Error(`line ${line}: TYPE of ${name} after its samples`);
        types.set(name, type);
        family(name).type = type;
      }
      return;
    }
    const nameMatch = /^[^\s{]+/.exec(raw);
    const name = nameMatch?.[0] ?? "";
    if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: metric name "${name}" is not valid`);
    let i = name.length;
    let labels: Record<string, string> = {};
    if (raw[i] === "{") ({ labels, end: i } = parseLabels(raw, i, line));
    const rest = raw.slice(i);
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2 || parts[0] === "")
      throw new Error(`line ${line}: expected "<value> [timestamp]" after ${name}, got "${rest}"`);
    const value = parseFloatStrict(parts[0] as string, `line ${line}: value`);
    let timestamp: number | undefined;
    if (parts[1] !== undefined) {
      if (!/^-?\d+$/.test(parts[1]))
        throw new Error(`line ${line}: timestamp "${parts[1]}" is not an integer`);
      timestamp = Number(parts[1]);
    }
    const base = familyOf(name, types);
    enter(base, line);
    const f = family(base);
    const key = sampleKey(name, labels);
    if (seen.has(key)) throw new Error(`line ${line}: the sample ${key} is given twice`);
    seen.add(key);
    if (f.type === "counter" && (value < 0 || Number.isNaN(value)))
      throw new Error(`line ${line}: counter ${name} is ${value}`);
    if (f.type === "histogram") {
      if (name === `${base}_bucket` && labels.le === undefined)
        throw new Error(`line ${line}: bucket of ${base} without le`);
      if (name === base) throw new Error(`line ${line}: histogram ${base} sample without a suffix`);
    }
    if (f.type === "summary" && name === base && labels.quantile === undefined)
      throw new Error(`line ${line}: summary ${base} sample without quantile`);
    f.samples.push({ name, labels, value, ...(timestamp === undefined ? {} : { timestamp }) });
  });
  return families;
}

/** The one sample of `family` whose labels include `labels`; throws when there is none or more than one. */
export function sampleOf(
  families: Map<string, Family>,
  family: string,
  labels: Record<string, string> = {},
): number {
  const matches = (families.get(family)?.samples ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matches.length !== 1)
    throw new Error(`${matches.length} samples of ${family} match ${JSON.stringify(labels)}`);
  return (matches[0] as Sample).value;
}

/** The value of the sample of `family` with these labels, or undefined when there is none. */
export function maybeSample(
  families: Map<string, Family>,
  family: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matches = (families.get(family)?.samples ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matches.length > 1)
    throw new Error(`${matches.length} samples of ${family} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}
