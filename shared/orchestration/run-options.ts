/**
 * What an on-demand event may ask of a run besides its date and `force` (shared/nightly-event.ts):
 * `{ "date": "2024-04-02", "allowGaps": true }` runs the date although an earlier extract date is
 * not published. The scheduler's events never carry it, so a scheduled night never skips a gap.
 */
import { z } from 'zod';

const RunOptions = z.object({ allowGaps: z.boolean().default(false) });

export function parseRunOptions(event: unknown): { allowGaps: boolean } {
  const parsed = RunOptions.safeParse(event !== null && typeof event === 'object' ? event : {});
  if (!parsed.success) throw new Error(`invalid event: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
