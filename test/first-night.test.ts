/**
 * What a new user runs first, through the real CLI: every `/crm` answer and a query over every
 * table and `_latest` view, from a destination with exactly one published night and from one with
 * several. One night once broke every answer that looks up the latest run: `max(dt)` over a
 * Hive-partitioned folder with a single partition raised an internal error in DuckDB 1.5.5.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { latestViewName, SNAPSHOT_TABLES } from '../shared/athena/tables.js';
import { TABLES } from '../shared/tables/index.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { main } from '../functions/cli.js';
import { runLocal, tempDir } from './helpers.js';

const DATES = ['2024-03-01', '2024-03-02', '2024-03-03'];

/** Runs the CLI and returns its exit code and what it printed on stdout and stderr. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')));
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const destinations: Record<'one night' | 'several nights', { dest: string; last: string }> = {} as never;

beforeAll(async () => {
  const source = await tempDir('first-src');
  await generateExtracts({ dir: source, from: DATES[0]!, to: DATES.at(-1)!, customers: 600, seed: 3 });
  const one = await tempDir('first-one');
  await runLocal(DATES[0]!, source, one);
  const several = await tempDir('first-several');
  for (const date of DATES) await runLocal(date, source, several);
  destinations['one night'] = { dest: one, last: DATES[0]! };
  destinations['several nights'] = { dest: several, last: DATES.at(-1)! };
}, 120_000);

afterEach(() => vi.restoreAllMocks());

describe.each(['one night', 'several nights'] as const)('from a destination with %s', (label) => {
  const customerOf = async (dest: string, date: string) => {
    const { out } = await cli('query', '--dest', dest, '--format', 'json', `SELECT customer_id FROM customer_scores WHERE dt = DATE '${date}' ORDER BY customer_id LIMIT 1`);
    return (JSON.parse(out) as { customer_id: string }[])[0]!.customer_id;
  };

  it('the latest run is the last published night', async () => {
    const { dest, last } = destinations[label];
    const { code, out } = await cli('query', '--dest', dest, '--format', 'json', 'SELECT CAST(max(dt) AS VARCHAR) AS dt FROM run_manifest');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([{ dt: last }]);
  });

  it.each(['segments', 'holdout', 'top 3', 'status', 'help'])('/crm %s answers from the latest run', async (command) => {
    const { dest, last } = destinations[label];
    const { code, out, err } = await cli('slack', command, '--dest', dest, '--text');
    expect(err).toBe('');
    expect(code).toBe(0);
    if (command !== 'help') expect(out).toContain(last);
    expect(out).not.toMatch(/error|No results|not found/i);
  });

  it('/crm customer <id> answers with that customer of the latest run', async () => {
    const { dest, last } = destinations[label];
    const id = await customerOf(dest, last);
    const { code, out, err } = await cli('slack', `customer ${id}`, '--dest', dest, '--text');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain(id);
    expect(out).toContain(last);
  });

  it('every table and every _latest view can be queried, each with the latest night', async () => {
    const { dest, last } = destinations[label];
    for (const table of TABLES) {
      const { code, out, err } = await cli('query', '--dest', dest, '--format', 'json', `SELECT CAST(max(dt) AS VARCHAR) AS dt, count(*) AS n FROM ${table.name}`);
      expect(err, table.name).toBe('');
      expect(code, table.name).toBe(0);
      const [row] = JSON.parse(out) as { dt: string | null; n: number }[];
      // A table with rows has the last night among them (some, e.g. model_validation, are empty
      // until the history is long enough).
      if (row!.n > 0) expect(row!.dt, table.name).toBe(last);
    }
    for (const table of SNAPSHOT_TABLES) {
      const view = latestViewName(table);
      const { code, out, err } = await cli('query', '--dest', dest, '--format', 'json', `SELECT DISTINCT CAST(dt AS VARCHAR) AS dt FROM ${view}`);
      expect(err, view).toBe('');
      expect(code, view).toBe(0);
      const rows = JSON.parse(out) as { dt: string }[];
      expect(rows.every((r) => r.dt === last), view).toBe(true);
      // A view over a table with rows on the last night shows them.
      const latestRows = await cli('query', '--dest', dest, '--format', 'json', `SELECT count(*) AS n FROM ${table.name} WHERE dt = DATE '${last}'`);
      if ((JSON.parse(latestRows.out) as { n: number }[])[0]!.n > 0) expect(rows, view).toEqual([{ dt: last }]);
    }
  });
});
