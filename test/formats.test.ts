/**
 * Every supported extract format yields the same curated transactions; source column mappings
 * (Online Retail's order lines) and config errors behave as documented.
 */
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { customerScores, rejects, transactions } from '../shared/tables/index.js';
import { ConfigError, parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { NormalizeLines } from '../shared/ingest/localize.js';
import { CSV_HEADER, money, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const DATE = '2024-02-10';
const ROWS = [
  ['t1', 'c1', '2024-02-09T10:00:00', '19.99', '2', 'online', 'EUR', 'false'],
  ['t2', 'c2', '2024-02-10', '5.00', '1', 'store', 'EUR', 'false'],
  ['t3', 'c1', '2024-02-10T08:30:00Z', '-19.99', '2', 'online', 'EUR', 'true'],
];
const COLUMNS = CSV_HEADER.split(',');
const csv = [CSV_HEADER, ...ROWS.map((r) => r.join(','))].join('\n') + '\n';
const jsonl = ROWS.map((r) => JSON.stringify(Object.fromEntries(COLUMNS.map((c, i) => [c, r[i]])))).join('\n') + '\n';

async function parquetExtract(dir: string): Promise<string> {
  const csvPath = await writeExtract(dir, 'scratch', 'rows.csv', csv);
  const target = await writeExtract(dir, DATE, 'rows.parquet', '');
  const engine = await DuckDbEngine.open();
  try {
    // Typed columns, as a warehouse export would have them.
    await engine.run(`COPY (SELECT transaction_id, customer_id, CAST(ordered_at AS TIMESTAMPTZ) AS ordered_at,
        CAST(amount AS DECIMAL(10,2)) AS amount, quantity, channel, currency, is_return
      FROM read_csv('${csvPath}', header = true, all_varchar = false)) TO '${target}' (FORMAT parquet)`);
  } finally {
    await engine.close();
  }
  return target;
}

async function curated(dest: string) {
  const rows = await readTable(dest, transactions, DATE);
  return rows.map((t) => ({
    id: t['transaction_id'],
    customer: t['customer_id'],
    at: (t['ordered_at'] as Date).toISOString(),
    amount: money(t['amount']),
    quantity: t['quantity'],
    isReturn: t['is_return'],
  }));
}

describe('extract formats', () => {
  const variants: Record<string, (dir: string) => Promise<unknown>> = {
    csv: (dir) => writeExtract(dir, DATE, 'a.csv', csv),
    'csv.gz': (dir) => writeExtract(dir, DATE, 'a.csv.gz', gzipSync(csv)),
    jsonl: (dir) => writeExtract(dir, DATE, 'a.jsonl', jsonl),
    'jsonl.gz': (dir) => writeExtract(dir, DATE, 'a.jsonl.gz', gzipSync(jsonl)),
    parquet: parquetExtract,
  };

  it.each(Object.keys(variants))('%s gives the same curated rows', async (format) => {
    const source = await tempDir('fmt-src');
    const dest = await tempDir('fmt-dest');
    await variants[format]!(source);
    const result = await runLocal(DATE, source, dest);
    expect(result).toMatchObject({ rowsRead: 3, rowsAccepted: 3, rowsRejected: 0 });
    expect(await curated(dest)).toEqual([
      { id: 't1', customer: 'c1', at: '2024-02-09T10:00:00.000Z', amount: 19.99, quantity: 2, isReturn: false },
      { id: 't2', customer: 'c2', at: '2024-02-10T00:00:00.000Z', amount: 5, quantity: 1, isReturn: false },
      { id: 't3', customer: 'c1', at: '2024-02-10T08:30:00.000Z', amount: -19.99, quantity: -2, isReturn: true },
    ]);
  });
});

describe('malformed JSON Lines and Parquet', () => {
  it('rejects a bad JSON line by number and a corrupt Parquet file whole', async () => {
    const source = await tempDir('bad-src');
    const dest = await tempDir('bad-dest');
    const lines = jsonl.trimEnd().split('\n');
    await writeExtract(source, DATE, 'a.jsonl', [lines[0], '{"transaction_id": "t9", oops', '[1, 2]', lines[1]].join('\n'));
    await writeExtract(source, DATE, 'b.parquet', 'PAR1 this is not parquet');
    const result = await runLocal(DATE, source, dest);
    expect(result).toMatchObject({ rowsRead: 5, rowsAccepted: 2, rowsRejected: 3 });
    const rejected = await readTable(dest, rejects, DATE);
    expect(rejected.map((r) => [r['source_file'], r['source_line'] === null ? null : Number(r['source_line']), r['reason']])).toEqual([
      [`transactions/dt=${DATE}/a.jsonl`, 2, 'not valid JSON'],
      [`transactions/dt=${DATE}/a.jsonl`, 3, 'not a JSON object'],
      [`transactions/dt=${DATE}/b.parquet`, null, expect.stringMatching(/^unreadable parquet file: /)],
    ]);
  });
});

describe('order-line extracts (UCI Online Retail shape)', () => {
  const config = {
    input: {
      grain: 'line',
      timestamp_format: '%m/%d/%Y %H:%M',
      return_id_prefix: 'C',
      columns: {
        transaction_id: 'InvoiceNo',
        customer_id: 'CustomerID',
        ordered_at: 'InvoiceDate',
        quantity: 'Quantity',
        unit_price: 'UnitPrice',
      },
    },
  };
  const lines = [
    'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country',
    '536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2/9/2024 8:26,2.55,17850,United Kingdom',
    '536365,71053,"WHITE METAL LANTERN, SMALL",6,2/9/2024 8:26,3.39,17850,United Kingdom',
    '536366,22633,HAND WARMER UNION JACK,6,2/9/2024 8:28,1.85,17850,United Kingdom',
    'C536379,D,Discount,-1,2/10/2024 9:41,27.50,14527,United Kingdom',
    '536380,22961,JAM MAKING SET PRINTED,24,2/10/2024 9:41,1.45,14527,United Kingdom',
    '536381,22139,RETROSPOT TEA SET,x,2/10/2024 9:45,4.95,15311,United Kingdom',
  ];

  it('sums lines into orders, counts orders not lines, and treats C-invoices as returns', async () => {
    const source = await tempDir('or-src');
    const dest = await tempDir('or-dest');
    await writeExtract(source, DATE, 'online_retail.csv', lines.join('\r\n'));
    const result = await runLocal(DATE, source, dest, config);
    expect(result).toMatchObject({ rowsRead: 6, rowsAccepted: 5, rowsRejected: 1, ordersAdded: 4 });
    const orders = await curated(dest);
    expect(orders.find((o) => o.id === '536365')).toMatchObject({ amount: 6 * 2.55 + 6 * 3.39, quantity: 12 });
    expect(orders.find((o) => o.id === 'C536379')).toMatchObject({ amount: -27.5, isReturn: true });
    const scores = await readTable(dest, customerScores, DATE);
    const c17850 = scores.find((s) => s['customer_id'] === '17850')!;
    expect(c17850['frequency']).toBe(2);
    expect(money(c17850['monetary'])).toBeCloseTo(6 * 2.55 + 6 * 3.39 + 6 * 1.85, 4);
    const c14527 = scores.find((s) => s['customer_id'] === '14527')!;
    expect(c14527['frequency']).toBe(1);
    expect(money(c14527['monetary'])).toBeCloseTo(24 * 1.45 - 27.5, 4);
    expect(money(c14527['returned_amount'])).toBe(27.5);
  });
});

describe('configuration', () => {
  it('names the bad key', () => {
    expect(() => parseConfig({ input: { delimiter: ';;' } })).toThrow(/input\.delimiter/);
    expect(() => parseConfig({ input: { grain: 'basket' } })).toThrow(/input\.grain/);
    expect(() => parseConfig({ input: { columns: { customer: 'id' } } })).toThrow(/input\.columns/);
    expect(() => parseConfig({ rfm: { segments: [{ segment: 'All but 5', r: [1, 4] }] } })).toThrow(
      /rfm\.segments: no rule matches r=5, f=1, m=1/,
    );
    expect(() => parseConfig({ input: { header: false } })).toThrow(/input\.names/);
    expect(() => parseConfig({ extra: 1 })).toThrow(ConfigError);
  });
});

describe('line endings', () => {
  it('turns CRLF into LF across chunk boundaries and keeps lone CR and NUL visible', async () => {
    const chunks = [Buffer.from('a,1\r'), Buffer.from('\nb,2\rc\r'), Buffer.from('d\0\r\n')];
    const out = await buffer(Readable.from(chunks).pipe(new NormalizeLines()));
    expect(out.toString()).toBe('a,1\nb,2\u240dc\u240dd\u2400\n');
  });
});
