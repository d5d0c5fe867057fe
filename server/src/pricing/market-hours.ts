/**
 * The foreign-exchange week: FX markets close on Friday at 17:00 and reopen on Sunday at 17:00,
 * New York time (America/New_York, daylight saving included). Fiat rate feeds do not move while
 * the market is closed, so a fiat answer's age counts only the seconds the market was open.
 */

const NEW_YORK = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York",
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** New York's wall clock at `ms` as a UTC-based timestamp (so its offset is the difference). */
function newYorkWall(ms: number): number {
  const part: Record<string, number> = {};
  for (const p of NEW_YORK.formatToParts(new Date(ms)))
    if (p.type !== "literal") part[p.type] = Number(p.value);
  return Date.UTC(
    part.year as number,
    (part.month as number) - 1,
    part.day as number,
    part.hour as number,
    part.minute as number,
    part.second as number,
  );
}

/** The instant New York's clock reads `wall` (a UTC-based timestamp of the wall time). */
function fromNewYorkWall(wall: number): number {
  let t = wall - (newYorkWall(wall) - wall);
  t = wall - (newYorkWall(t) - t);
  return t;
}

const DAY_MS = 86_400_000;
const CLOSE_HOUR = 17;

/** The closures (Friday 17:00 to Sunday 17:00 New York time) that overlap [fromMs, toMs], in ms. */
export function fxClosures(fromMs: number, toMs: number): Array<[number, number]> {
  const closures: Array<[number, number]> = [];
  // Walk New York calendar days from three days before `fromMs` (a closure lasts two days).
  const first = newYorkWall(fromMs - 3 * DAY_MS);
  const last = newYorkWall(toMs);
  for (let day = first - (first % DAY_MS); day <= last; day += DAY_MS) {
    if (new Date(day).getUTCDay() !== 5) continue;
    const start = fromNewYorkWall(day + CLOSE_HOUR * 3_600_000);
    const end = fromNewYorkWall(day + 2 * DAY_MS + CLOSE_HOUR * 3_600_000);
    if (end > fromMs && start < toMs) closures.push([start, end]);
  }
  return closures;
}

/** Whether the FX market is closed at `ms` (Friday 17:00 to Sunday 17:00 New York time). */
export const fxMarketClosed = (ms: number): boolean =>
  fxClosures(ms, ms + 1).some(([start, end]) => start <= ms && ms < end);

/**
 * Seconds between `fromSeconds` and `toSeconds` (Unix seconds) during which the FX market was
 * open: a Friday 16:59 answer read on Saturday is one minute old; read on Monday at 09:00 it is
 * one minute plus the 16 hours since Sunday's reopening.
 */
export function fxOpenSeconds(fromSeconds: number, toSeconds: number): number {
  if (toSeconds <= fromSeconds) return toSeconds - fromSeconds;
  const from = fromSeconds * 1000;
  const to = toSeconds * 1000;
  let closed = 0;
  for (const [start, end] of fxClosures(from, to)) closed += Math.min(end, to) - Math.max(start, from);
  return Math.floor((to - from - closed) / 1000);
}
