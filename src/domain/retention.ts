// Retention durations (issue #14): ISO 8601 durations of fixed-length units only. Months and
// years are refused rather than read as calendar units: "P1M" kept in January and in February
// would keep different amounts, and a purge must say exactly what it deleted.

const UNIT_MS = { W: 7 * 86_400_000, D: 86_400_000, H: 3_600_000, M: 60_000, S: 1000 } as const;
// The spec's pattern, repeated so the domain never depends on the validator having run first.
const DURATION = /^P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
/** The longest retention accepted: 100 years of days; longer is as good as forever (null). */
export const MAX_RETENTION_MS = 36_500 * UNIT_MS.D;

/** A retention duration in milliseconds, or a message naming what is wrong with `text`. */
export function parseRetention(text: string): { ms: number } | { problem: string } {
  if (/^-/.test(text)) return { problem: 'a retention cannot be negative' };
  // Before the T, M is months (after it, minutes).
  if (/^P/.test(text) && /[YM]/.test(text.split('T')[0])) {
    return {
      problem: 'months and years are not a fixed length; give weeks, days, hours, minutes or seconds, e.g. P30D',
    };
  }
  if (/[.,]/.test(text)) return { problem: 'fractions are not accepted; give whole units, down to seconds (PT2S)' };
  const match = DURATION.exec(text);
  if (!match) {
    return { problem: 'not an ISO 8601 duration of weeks, days, hours, minutes and seconds, such as P90D or PT2S' };
  }
  const [, w, d, h, m, s] = match;
  let ms = 0;
  for (const [value, unit] of [
    [w, 'W'],
    [d, 'D'],
    [h, 'H'],
    [m, 'M'],
    [s, 'S'],
  ] as const) {
    if (value !== undefined) ms += Number(value) * UNIT_MS[unit];
  }
  if (ms < 1000) return { problem: 'a retention must be at least 1 second (PT1S)' };
  if (ms > MAX_RETENTION_MS) return { problem: 'a retention must be at most 36500 days; use null to keep forever' };
  return { ms };
}

/** A tenant's retention policy: `retention` null keeps forever; a legal hold stops every purge. */
export interface RetentionPolicy {
  retention: string | null;
  legalHold: boolean;
}

/**
 * Of a tenant's oldest unpurged events (seq ascending from `prunedThrough + 1`), how many form the
 * prefix to purge: each in its place (no gap), received before `cutoffMs`, and (checked by
 * `intact`) still matching its leaf hash, since its leaf hash is all that will remain of it.
 */
export function purgeablePrefix<T extends { seq: number; receivedAt: number }>(
  prunedThrough: number,
  oldest: readonly T[],
  cutoffMs: number,
  intact: (event: T) => boolean,
): { count: number; stoppedBy?: { seq: number; reason: 'gap' | 'edited' } } {
  let count = 0;
  for (const event of oldest) {
    if (event.seq !== prunedThrough + count + 1)
      return { count, stoppedBy: { seq: prunedThrough + count + 1, reason: 'gap' } };
    if (!(event.receivedAt < cutoffMs)) return { count };
    if (!intact(event)) return { count, stoppedBy: { seq: event.seq, reason: 'edited' } };
    count += 1;
  }
  return { count };
}
