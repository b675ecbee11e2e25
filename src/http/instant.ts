// RFC 3339 section 5.6 date-time, time zone required. Sub-millisecond digits are allowed and truncated.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant an RFC 3339 date-time names, in epoch milliseconds, or undefined when the text is
 * not one or names no real instant (2017-02-30, 24:00, leap second 23:59:60, offset +25:00).
 */
export function parseInstant(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offsetHours = m[8] ? 0 : Number(m[10]);
  const offsetMinutes = m[8] ? 0 : Number(m[11]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999. It rolls
  // 2017-02-30 over into March, so a real date is one that survives the round trip.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  const sign = m[9] === '-' ? -1 : 1;
  return date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
}

/** The canonical form every stored timestamp is returned in: UTC, millisecond precision. */
export function formatInstant(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
