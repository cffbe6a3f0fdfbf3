/** Calendar dates as ISO strings (YYYY-MM-DD, UTC): the run date's arithmetic, in one place. */

export const DAY_MS = 86_400_000;

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Days since 1970-01-01. */
export function dayNumber(date: string): number {
  return Math.round(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}

/** The date `days` days after `date` (before, when negative). */
export function shiftDate(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Days from `from` to `to` (negative when `to` is earlier). */
export function daysFrom(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from);
}

/** YYYY-MM-DD naming a real day (2024-02-30 is not one, though Date.parse rolls it into March). */
export function isCalendarDate(date: string): boolean {
  const time = Date.parse(`${date}T00:00:00Z`);
  return ISO_DATE.test(date) && !Number.isNaN(time) && new Date(time).toISOString().startsWith(date);
}

/** The calendar date of an instant in an IANA time zone (the day a 02:00 Europe/Berlin run belongs to). */
export function localDate(instant: Date, timeZone: string): string {
  // en-CA formats as YYYY-MM-DD; Intl applies the zone's offset and daylight saving.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(instant);
}

/** Whether Intl knows the time zone. */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone });
    return true;
  } catch {
    return false;
  }
}
