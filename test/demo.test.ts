/**
 * The demo business at a smaller size: its extracts look like an initial load followed by daily
 * deliveries, the holdout recovers the CRM programme's known effect (and finds none when there is
 * none), and `crm-metrics demo` fills every section of the report.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { holdoutResults } from '../shared/tables/index.js';
import { businessConfig, generateBusiness, type BusinessResult } from '../shared/demo/business.js';
import { main } from '../functions/cli.js';
import { readTable, runLocal, tempDir } from './helpers.js';

const RUN_DATE = '2024-11-30';

/** The programme's true incremental revenue in [from, to], from the generator's own record of its extra orders. */
function trueIncrement(truth: BusinessResult['truth'], from: string, to: string): number {
  return Object.entries(truth.incrementalByDay).reduce((sum, [day, amount]) => (day >= from && day <= to ? sum + amount : sum), 0);
}

/** The whole history as one extract on the run date, one night run, and the since-start holdout row for all customers. */
async function sinceStart(crmEffect: number) {
  const source = await tempDir('demo-src');
  const dest = await tempDir('demo-dest');
  const business = await generateBusiness({ dir: source, customers: 12_000, initialLoad: RUN_DATE, to: RUN_DATE, crmEffect });
  await runLocal(RUN_DATE, source, dest, businessConfig());
  const rows = await readTable(dest, holdoutResults, RUN_DATE);
  const all = rows.find((r) => r['holdout'] === 'global' && r['window'] === 'since_start' && r['segment'] === 'ALL')!;
  return { business, all, truth: trueIncrement(business.truth, business.truth.programmeStart, RUN_DATE) };
}

describe('the demo business', () => {
  it('is delivered as an initial load, then one extract per day holding that day (and a few rows of the day before sent again)', async () => {
    const dir = await tempDir('demo-layout');
    const business = await generateBusiness({ dir, customers: 2_000, initialLoad: '2024-11-27', to: RUN_DATE });
    expect(business.extractDates).toEqual(['2024-11-27', '2024-11-28', '2024-11-29', '2024-11-30']);
    const datesIn = async (extract: string) => {
      const files = await readdir(join(dir, 'transactions', `dt=${extract}`));
      const lines = (await Promise.all(files.map((f) => readFile(join(dir, 'transactions', `dt=${extract}`, f), 'utf8')))).flatMap((t) => t.trim().split('\n').slice(1));
      return lines.map((l) => l.split(',')[2]!.slice(0, 10)).filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && !d.includes('-13-'));
    };
    const initial = await datesIn('2024-11-27');
    expect(initial.every((d) => d <= '2024-11-27')).toBe(true);
    expect(initial.some((d) => d < '2023-01-01')).toBe(true); // two years of history
    const daily = await datesIn('2024-11-29');
    expect(new Set(daily)).toEqual(new Set(['2024-11-28', '2024-11-29']));
    expect(daily.filter((d) => d === '2024-11-28')).toHaveLength(3);
  });

  it('the holdout recovers the injected CRM effect: the 95 % CI covers the true increment and excludes zero', async () => {
    const { all, truth } = await sinceStart(0.3);
    expect(truth).toBeGreaterThan(0);
    expect(all['ci_low']).toBeLessThanOrEqual(truth);
    expect(all['ci_high']).toBeGreaterThanOrEqual(truth);
    expect(all['ci_low']).toBeGreaterThan(0);
    expect(all['verdict']).toBe('significant gain');
  });

  it('with no injected effect the verdict is inconclusive', async () => {
    const { all, truth } = await sinceStart(0);
    expect(truth).toBe(0);
    expect(all['ci_low']).toBeLessThan(0);
    expect(all['ci_high']).toBeGreaterThan(0);
    expect(all['verdict']).toBe('inconclusive');
  });

  it('crm-metrics demo runs every night and fills every section of the last report', async () => {
    const dir = await tempDir('demo-cli');
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')));
    const code = await main(['demo', '--dir', dir, '--customers', '3000', '--quiet']);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const text = out.join('\n');
    const report = /The last night's report: (\S+)/.exec(text)![1]!;
    expect(report).toBe(join(dir, 'out', 'reports', `dt=${RUN_DATE}`, 'index.html'));
    const html = await readFile(report, 'utf8');
    for (const id of ['run', 'segments', 'migration', 'clv', 'calibration', 'holdout', 'kpi', 'roc', 'forecast']) expect(html).toContain(`<section id="${id}"`);
    expect(html).not.toContain('Not available yet');
    // Per-segment holdout rows, not only "unknown".
    expect(html).toContain('Champions');
    expect(text).toMatch(/Three questions to try:\n(\s+npx crm-metrics (slack|query) .+\n?){3}$/);
  }, 180_000);
});
