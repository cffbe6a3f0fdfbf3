/**
 * Ingest: every input row ends in transactions, rejects or the duplicate count, with reasons that
 * name the line; whole-file problems are named too; missing and empty extracts are named outcomes.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { rejects, runManifest, transactions } from '../shared/tables/index.js';
import { CSV_HEADER, money, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const D1 = '2024-03-01';
const D2 = '2024-03-02';

const good = (id: string, customer = 'c1', at = '2024-03-01T10:00:00', amount = '10.00') =>
  `${id},${customer},${at},${amount},1,online,EUR,false`;

describe('ingest of a malformed extract', () => {
  it('rejects each bad row with its line and reason, and the run completes', async () => {
    const source = await tempDir('src');
    const dest = await tempDir('dest');
    const lines = [
      CSV_HEADER, // line 1
      good('t1'), // 2
      good('t2', 'c2', '2024-13-45'), // 3 bad date
      good('t3', 'c3', '2024-03-01', '12x'), // 4 non-numeric amount
      good('t4', ''), // 5 missing customer
      't5,c5,2024-03-01,10.00,1,online', // 6 wrong column count
      good('t6', 'c6', '2024-03-05'), // 7 after the run date
      good('t1'), // 8 duplicate of line 2
      '', // 9 blank: not a row
      good('t7', 'c7', '2024-03-01T09:00:00+02:00', '"1,5"'.replace(',', '.')), // 10 quoted amount, offset date
      't8,"c8, quoted ""name""",2024-03-01,5,1,store,EUR,false', // 11 quoted delimiter and quotes
      't9,"c9,2024-03-01,5,1,store,EUR,false', // 12 unbalanced quote
    ];
    const csv = Buffer.concat([
      Buffer.from(lines.join('\r\n') + '\r\n'),
      Buffer.from('t10,c\xff10,2024-03-01,5,1,app,EUR,false\n', 'latin1'), // 13 invalid UTF-8
      Buffer.from(good('t11', 'c11') + '\n'), // 14
    ]);
    await writeExtract(source, D1, 'a.csv', csv);
    await writeExtract(source, D1, 'empty.csv', '');
    const truncated = gzipSync(Buffer.from([CSV_HEADER, good('g1', 'g1'), good('g2', 'g2'), good('g3', 'g3')].join('\n')));
    await writeExtract(source, D1, 'cut.csv.gz', truncated.subarray(0, truncated.length - 12));
    await writeExtract(source, D1, 'notes.pdf', 'not an extract');

    const result = await runLocal(D1, source, dest);
    expect(result.status).toBe('succeeded');

    const rejected = await readTable(dest, rejects, D1);
    const byLine = (file: string) =>
      Object.fromEntries(
        rejected
          .filter((r) => r['source_file'] === `transactions/dt=${D1}/${file}`)
          .map((r) => [r['source_line'] === null ? 'file' : Number(r['source_line']), r['reason']]),
      );
    expect(byLine('a.csv')).toEqual({
      3: 'ordered_at is not a valid date/time: "2024-13-45"',
      4: 'amount is not a number: "12x"',
      5: 'missing customer_id',
      6: 'expected 8 fields, found 6',
      7: 'ordered_at is after the run date: "2024-03-05"',
      12: 'malformed quoting',
      13: 'invalid UTF-8',
    });
    expect(byLine('empty.csv')).toEqual({ file: 'empty file' });
    expect(byLine('notes.pdf')).toEqual({ file: 'not an extract file (expected .csv, .jsonl, .parquet, optionally .gz)' });
    expect(byLine('cut.csv.gz')['file']).toMatch(/^gzip truncated/);
    // The raw text is kept for every line-level reject.
    const wrongCount = rejected.find((r) => r['source_line'] === 6n);
    expect(wrongCount?.['raw']).toBe('t5,c5,2024-03-01,10.00,1,online');

    const curated = await readTable(dest, transactions, D1);
    const ids = curated.map((t) => t['transaction_id']).sort();
    // g3's line was cut by the truncation; only complete lines of the stream are loaded.
    expect(ids).toEqual(['g1', 'g2', 't1', 't11', 't7', 't8']);
    const t8 = curated.find((t) => t['transaction_id'] === 't8')!;
    expect(t8['customer_id']).toBe('c8, quoted "name"');
    const t7 = curated.find((t) => t['transaction_id'] === 't7')!;
    expect((t7['ordered_at'] as Date).toISOString()).toBe('2024-03-01T07:00:00.000Z');

    const [manifest] = await readTable(dest, runManifest, D1);
    const n = (k: string) => Number(manifest![k]);
    expect(n('rows_duplicate')).toBe(1);
    expect(n('rows_accepted')).toBe(6);
    expect(n('rows_rejected')).toBe(rejected.length);
    expect(n('rows_read')).toBe(n('rows_accepted') + n('rows_rejected') + n('rows_duplicate'));
    // 12 non-blank data lines in a.csv, 1 empty file, 2 lines + 1 truncation in cut.csv.gz, 1 stray file.
    expect(n("rows_read")).toBe(12 + 1 + 3 + 1);
  });

  it('counts an order id seen on an earlier day once, and keeps returns', async () => {
    const source = await tempDir('src');
    const dest = await tempDir('dest');
    await writeExtract(source, D1, 'a.csv', [CSV_HEADER, good('t1'), good('t2', 'c2')].join('\n'));
    await writeExtract(
      source,
      D2,
      'a.csv',
      [CSV_HEADER, good('t1'), good('t3', 'c1', '2024-03-02', '-4.00'), 't4,c2,2024-03-02,3.00,1,store,EUR,true'].join('\n'),
    );
    await runLocal(D1, source, dest);
    const second = await runLocal(D2, source, dest);
    expect(second).toMatchObject({ rowsRead: 3, rowsAccepted: 2, rowsDuplicate: 1, rowsRejected: 0 });
    const added = await readTable(dest, transactions, D2);
    expect(added.map((t) => [t['transaction_id'], money(t['amount']), t['is_return']])).toEqual([
      ['t3', -4, true],
      ['t4', -3, true],
    ]);
  });

  it.each(['auto', 'lines'] as const)('rejects a fractional quantity rather than rounding it (parser %s)', async (parser) => {
    const source = await tempDir('src');
    const dest = await tempDir('dest');
    await writeExtract(source, D1, 'a.csv', [CSV_HEADER, good('t1'), 't2,c1,2024-03-01T10:00:00,10.00,2.5,online,EUR,false', 't3,c1,2024-03-01T10:00:00,10.00,-3,online,EUR,true'].join('\n'));
    await runLocal(D1, source, dest, { input: { parser } });
    expect((await readTable(dest, rejects, D1)).map((r) => [Number(r['source_line']), r['reason']])).toEqual([[3, 'quantity is not an integer: "2.5"']]);
    expect((await readTable(dest, transactions, D1)).map((t) => [t['transaction_id'], t['quantity']])).toEqual([
      ['t1', 1],
      ['t3', -3],
    ]);
  });

  it('refuses a date that is not on the calendar', async () => {
    const source = await tempDir('src');
    await expect(runLocal('2024-02-30', source, await tempDir('dest'))).rejects.toThrow('invalid run date "2024-02-30"');
  });

  it('names a missing extract and publishes nothing', async () => {
    const source = await tempDir('src');
    const dest = await tempDir('dest');
    const result = await runLocal(D1, source, dest);
    expect(result.status).toBe('missing_extract');
    expect(result.extractLocation).toContain(`transactions/dt=${D1}/`);
    await expect(readTable(dest, runManifest, D1)).rejects.toThrow();
  });

  it('names an extract with no rows as empty_extract', async () => {
    const source = await tempDir('src');
    const dest = await tempDir('dest');
    await writeExtract(source, D1, 'a.csv', `${CSV_HEADER}\n`);
    const result = await runLocal(D1, source, dest);
    expect(result).toMatchObject({ status: 'empty_extract', rowsRead: 0 });
    const [manifest] = await readTable(dest, runManifest, D1);
    expect(manifest!['status']).toBe('empty_extract');
  });
});
