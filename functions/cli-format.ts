/** Small pure helpers of the CLI: date ranges and printing rows. */
import type { SqlRow } from '../shared/engine/sql-engine.js';
import { daysFrom, isCalendarDate, shiftDate } from '../shared/dates.js';

/** Dates from `from` to `to` inclusive (YYYY-MM-DD), each shifted by `offsetDays`. */
export function datesBetween(from: string, to: string, offsetDays = 0): string[] {
  if (!isCalendarDate(from) || !isCalendarDate(to)) throw new Error(`invalid date range ${from}..${to}: expected YYYY-MM-DD`);
  const days = daysFrom(from, to);
  if (days < 0) throw new Error(`invalid date range ${from}..${to}: --to is before --from`);
  return Array.from({ length: days + 1 }, (_, i) => shiftDate(from, i + offsetDays));
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Rows as an aligned text table, or as delimited text when `delimiter` is given. */
export function formatTable(rows: readonly SqlRow[], delimiter?: string): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const grid = [columns, ...rows.map((row) => columns.map((c) => cell(row[c])))];
  if (delimiter) {
    const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
    return grid.map((line) => line.map(quote).join(delimiter)).join('\n');
  }
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => line[i]!.length)));
  return grid.map((line) => line.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
