/**
 * What starts a nightly run: an on-demand request or the scheduler's event, both resolved to the
 * run date (pure; the Lambda handler and the Slack command's worker share it).
 */
import { z } from 'zod';
import { isCalendarDate, isTimeZone, localDate, shiftDate } from './dates.js';


const OnDemandEvent = z.object({
  date: z.string().refine(isCalendarDate, { error: (issue) => `invalid run date "${String(issue.input)}": expected YYYY-MM-DD` }),
  force: z.boolean().default(false),
});

const ScheduledEvent = z
  .object({
    time: z.iso.datetime({ offset: true }),
    timezone: z.string().refine(isTimeZone, { error: (issue) => `unknown IANA time zone "${String(issue.input)}"` }).default('UTC'),
  })
  .transform(({ time, timezone }) => ({ date: shiftDate(localDate(new Date(time), timezone), -1), force: false }));

/**
 * `{ "date": "2024-01-31", "force": true }` runs that date, replacing a published result only with
 * `force`. A scheduled event (EventBridge's `{ "time": … }`, plus the schedule's `timezone`) runs the
 * day before the scheduled time's local date: the last complete day of extracts.
 */
export function parseNightlyEvent(event: unknown): { date: string; force: boolean } {
  const schema = event && typeof event === 'object' && 'date' in event ? OnDemandEvent : ScheduledEvent;
  const parsed = schema.safeParse(event);
  if (!parsed.success) throw new Error(`invalid event: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
