/**
 * The nightly Lambda: parses the trigger (an EventBridge Scheduler payload or an on-demand
 * `{ "date": "YYYY-MM-DD" }`), builds the dependencies from the environment and calls the same
 * `runNightly` as the CLI.
 */
import middy from '@middy/core';
import { z } from 'zod';
import { parseConfig } from '../shared/config.js';
import { shiftDate } from '../shared/dates.js';
import { DuckDbEngine } from '../shared/engine/duckdb.js';
import { runNightly, type RunResult } from '../shared/pipeline.js';
import { storeFor } from '../shared/store/index.js';

const IsoDate = z.iso.date();

/**
 * `{ "date": "2024-01-31" }` runs that date; a scheduled event (`{ "time": "2024-02-01T02:00:00Z" }`)
 * runs the day before its time, the last complete day of extracts.
 */
export const NightlyEventSchema = z.union([
  z.object({ date: IsoDate }).transform(({ date }) => date),
  z.object({ time: z.iso.datetime({ offset: true }) }).transform(({ time }) => {
    return shiftDate(new Date(Date.parse(time)).toISOString().slice(0, 10), -1);
  }),
]);

const EnvSchema = z.object({
  SOURCE_URI: z.string().min(1),
  DEST_URI: z.string().min(1),
  CONFIG_JSON: z.string().optional(),
});

export async function nightly(event: unknown): Promise<RunResult> {
  const date = NightlyEventSchema.parse(event);
  const env = EnvSchema.parse(process.env);
  return runNightly(date, {
    source: storeFor(env.SOURCE_URI),
    dest: storeFor(env.DEST_URI),
    config: parseConfig(env.CONFIG_JSON ? JSON.parse(env.CONFIG_JSON) : {}),
    openEngine: DuckDbEngine.open,
    onProgress: (event) => console.log(JSON.stringify({ level: 'INFO', message: 'progress', ...event })),
  });
}

export const handler = middy(nightly);
