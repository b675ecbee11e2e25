// RFC 3339 section 5.6 date-time, time zone required: YYYY-MM-DD[Tt ]hh:mm:ss[.frac](Z|z|+hh:mm|-hh:mm).
// Sub-millisecond digits are allowed and truncated. Read character by character rather than with a
// regular expression and a Date: it runs twice for every posted event (validation and store), and
// this is about eight times cheaper. test/instant.test.ts pins the accepted and rejected forms.

/**
 * The instant an RFC 3339 date-time names, in epoch milliseconds, or undefined when the text is
 * not one or names no real instant (2017-02-30, 24:00, leap second 23:59:60, offset +25:00), or
 * when its UTC form would fall outside years 0001-9999: it is stored and served in UTC, and
 * RFC 3339 has no other years (0000-01-01T00:00:00+01:00 would come back as -000001-12-31…).
 */
export function parseInstant(text: string): number | undefined {
  const length = text.length;
  if (length < 20) return undefined; // the shortest form: 2017-10-31T00:02:04Z
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  const t = text[10];
  if (
    text[4] !== '-' ||
    text[7] !== '-' ||
    (t !== 'T' && t !== 't' && t !== ' ') ||
    text[13] !== ':' ||
    text[16] !== ':'
  ) {
    return undefined;
  }
  let i = 19;
  let millis = 0;
  if (text[i] === '.') {
    const start = ++i;
    while (i < length && isDigit(text.charCodeAt(i))) i++;
    if (i === start) return undefined;
    for (let k = start; k < start + 3; k++) millis = millis * 10 + (k < i ? text.charCodeAt(k) - ZERO : 0);
  }
  let offsetMs = 0;
  const zone = text[i];
  if (zone === 'Z' || zone === 'z') {
    if (i + 1 !== length) return undefined;
  } else if (zone === '+' || zone === '-') {
    if (i + 6 !== length || text[i + 3] !== ':') return undefined;
    const offsetHours = digits(text, i + 1, 2);
    const offsetMinutes = digits(text, i + 4, 2);
    if (offsetHours < 0 || offsetMinutes < 0 || offsetHours > 23 || offsetMinutes > 59) return undefined;
    offsetMs = (zone === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  } else {
    return undefined;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const epochMs =
    daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offsetMs;
  return epochMs >= FIRST_INSTANT_MS && epochMs < END_INSTANT_MS ? epochMs : undefined;
}

/**
 * The canonical form every stored timestamp is returned in: UTC, millisecond precision; what
 * Date#toISOString writes. Spelled out for years 0000-9999 (every instant parseInstant reads,
 * give or take a day's offset), where it is about twice as cheap as a Date; it runs for every
 * stored and every read event.
 */
export function formatInstant(epochMs: number): string {
  const days = Math.floor(epochMs / 86_400_000);
  const { year, month, day } = civilFromDays(days);
  if (year < 0 || year > 9999 || !Number.isInteger(epochMs)) return new Date(epochMs).toISOString();
  let rest = epochMs - days * 86_400_000;
  const millis = rest % 1000;
  rest = (rest - millis) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  const ms = millis < 10 ? `00${millis}` : millis < 100 ? `0${millis}` : `${millis}`;
  return `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}.${ms}Z`;
}

const ZERO = 48; // '0'
// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the UTC instants RFC 3339 can write.
const FIRST_INSTANT_MS = -62_135_596_800_000;
const END_INSTANT_MS = 253_402_300_800_000;

function isDigit(code: number): boolean {
  return code >= ZERO && code <= ZERO + 9;
}

/** The decimal number in text[from, from + count), or -1 when any of those is not an ASCII digit. */
function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code)) return -1;
    value = value * 10 + code - ZERO;
  }
  return value;
}

/** Proleptic Gregorian, as Date uses: year 0 is a leap year, 1900 is not. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's civil_from_days). */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153); // 0 = March
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  return {
    year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0),
    month,
    day: dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1,
  };
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}
