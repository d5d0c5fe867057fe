/**
 * A span of time: `from` inclusive, `to` exclusive; null leaves that side open. The exports
 * (docs/exports.md) filter each kind of row on its own date with one.
 */
export interface DateRange {
  from: Date | null;
  to: Date | null;
}

/** The whole of time. */
export const ALL_TIME: DateRange = { from: null, to: null };
