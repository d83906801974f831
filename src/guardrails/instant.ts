/**
 * RFC 3339 date-times, read strictly: a full date, a time, and an explicit offset (`Z` or
 * `±hh:mm`). Without an offset a time means different instants in different time zones, so it
 * is refused rather than read as local time (which is what `Date.parse` would do).
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

export type ParsedInstant =
  | { readonly ok: true; readonly epochMs: number }
  | { readonly ok: false; readonly problem: string };

export function parseRfc3339(text: string): ParsedInstant {
  const m = RFC3339.exec(text);
  if (!m) {
    return fail(`"${text}" is not an RFC 3339 date-time with an offset, e.g. 2026-12-31T23:59:59Z`);
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12) return fail(`"${text}": month ${month} does not exist`);
  if (day < 1 || day > daysInMonth(year, month)) {
    return fail(`"${text}": day ${day} does not exist in ${year}-${pad(month)}`);
  }
  if (hour > 23 || minute > 59) return fail(`"${text}": no such time of day`);
  // RFC 3339 allows a leap second (:60); JavaScript time has none, so refuse it than shift it.
  if (second > 59) return fail(`"${text}": seconds must be 00-59 (leap seconds are not supported)`);
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return fail(`"${text}": no such offset`);
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Rounded up, so that "now < expires" holds for a millisecond clock exactly when it holds for
  // the instant as written (2026-01-01T00:00:00.0005Z has not passed at ...00.000Z).
  const fraction = m[7] === undefined ? 0 : Math.ceil(Number(`0${m[7]}`) * 1000);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, 0);
  // Date.UTC maps years 0-99 to 1900-1999; set the year again to keep it literal.
  const fixed = new Date(utc);
  fixed.setUTCFullYear(year);
  return { ok: true, epochMs: fixed.getTime() + fraction - offsetMinutes * 60_000 };
}

/** An instant in UTC as RFC 3339, with milliseconds only when it has any. */
export function formatInstant(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(".000Z", "Z");
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

function fail(problem: string): ParsedInstant {
  return { ok: false, problem };
}
