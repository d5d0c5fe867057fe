/// <reference lib="dom" />
// The overview's income chart: one bar per day, stacked per coin, drawn as SVG here (no
// third-party request). Heights come from exact decimal ratios (format.ts `share`).
import { addDecimals, compareDecimals, share } from "./format.ts";

export interface ChartDay {
  day: string;
  value: string;
}
export interface ChartSlice {
  day: string;
  /** Which stack the slice is in: "ETH", "USDC (Base)"… */
  coin: string;
  value: string;
}

const SVG = "http://www.w3.org/2000/svg";
/** Colours told apart by colour-blind eyes too (Okabe–Ito), in the order coins first appear. */
const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];

const el = <K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>) => {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
};

/**
 * Draws the chart into `figure` and its legend into `legend`; returns each coin's colour.
 * `money` formats a decimal string in the merchant's currency, `dayLabel` a yyyy-mm-dd day.
 */
export function drawIncomeChart(
  figure: HTMLElement,
  legend: HTMLElement,
  data: { days: ChartDay[]; slices: ChartSlice[] },
  text: {
    label: string;
    money: (value: string) => string;
    dayLabel: (day: string) => string;
    bar: (day: string, value: string) => string;
  },
): Map<string, string> {
  const width = 720;
  const height = 220;
  const top = 8;
  const gap = 4;
  const slot = width / Math.max(data.days.length, 1);
  const max = data.days.reduce((m, d) => (compareDecimals(d.value, m) > 0 ? d.value : m), "0");
  const colours = new Map<string, string>();
  for (const s of data.slices)
    if (!colours.has(s.coin)) colours.set(s.coin, PALETTE[colours.size % PALETTE.length] as string);

  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": text.label,
    preserveAspectRatio: "none",
    class: "income-svg",
  });
  // The baseline and a line at the highest day.
  svg.append(el("line", { x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, class: "axis" }));
  svg.append(el("line", { x1: 0, x2: width, y1: top + 0.5, y2: top + 0.5, class: "grid" }));
  data.days.forEach((d, i) => {
    const group = el("g", { "data-day": d.day, "data-value": d.value, class: "bar" });
    const title = el("title", {});
    title.textContent = text.bar(text.dayLabel(d.day), text.money(d.value));
    group.append(title);
    let y = height;
    for (const s of data.slices.filter((x) => x.day === d.day)) {
      const h = share(s.value, max, height - top);
      y -= h;
      group.append(
        el("rect", {
          x: (i * slot + gap / 2).toFixed(2),
          y: y.toFixed(2),
          width: (slot - gap).toFixed(2),
          height: h.toFixed(2),
          fill: colours.get(s.coin) as string,
          "data-coin": s.coin,
          "data-value": s.value,
        }),
      );
    }
    svg.append(group);
  });
  const axis = document.createElement("div");
  axis.className = "chart-axis";
  const first = data.days[0]?.day;
  const last = data.days.at(-1)?.day;
  for (const label of [first ? text.dayLabel(first) : "", last ? text.dayLabel(last) : ""]) {
    const span = document.createElement("span");
    span.textContent = label;
    axis.append(span);
  }
  const peak = document.createElement("p");
  peak.className = "chart-peak muted small";
  peak.textContent = text.money(max);
  figure.replaceChildren(peak, svg, axis);

  legend.replaceChildren();
  for (const [coin, colour] of colours) {
    const total = addDecimals(data.slices.filter((s) => s.coin === coin).map((s) => s.value));
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    item.append(swatch, `${coin}: ${text.money(total)}`);
    item.dataset.coin = coin;
    legend.append(item);
  }
  return colours;
}
