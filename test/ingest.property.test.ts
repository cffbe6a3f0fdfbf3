/**
 * Property: whatever the extract holds (malformed lines, odd quoting, stray delimiters, BOMs, CRLF
 * and lone CRs, invalid UTF-8, huge fields), the run completes and every non-blank line is counted
 * exactly once: read = accepted + rejected + duplicates = the lines of the file, counted here; and
 * the fast path (DuckDB's CSV reader) and the line path give the same result.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rejects, runManifest, transactions } from '../shared/tables/index.js';
import { CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const DATE = '2024-06-01';

const validRow = fc
  .record({
    id: fc.integer({ min: 1, max: 30 }), // a small pool, so duplicates happen
    customer: fc.constantFrom('c1', 'c2', '"c3"', 'c,4'),
    day: fc.integer({ min: 1, max: 31 }),
    cents: fc.integer({ min: -5000, max: 100000 }),
  })
  .map(({ id, customer, day, cents }) => {
    const quoted = customer.includes(',') ? `"${customer}"` : customer;
    return Buffer.from(`t${id},${quoted},2024-05-${String(day).padStart(2, '0')},${(cents / 100).toFixed(2)},1,online,EUR,false`);
  });

const oddLine = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => Buffer.from(s)),
  fc.string({ unit: fc.constantFrom('"', ',', ' ', 'a', '1', '-', '\t', '\uFEFF'), maxLength: 40 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ minLength: 1, maxLength: 30 }).map((bytes) => Buffer.from(bytes.map((b) => (b === 10 ? 32 : b)))),
  fc.integer({ min: 10_000, max: 300_000 }).map((n) => Buffer.from(`t99,c9,2024-05-01,${'9'.repeat(n)},1,app,EUR,false`)),
);

const extract = fc.record({
  // Clean extracts take DuckDB's reader (the fast path), the others the line path.
  lines: fc.oneof(
    fc.array(validRow, { maxLength: 40 }),
    fc.array(fc.oneof({ weight: 3, arbitrary: validRow }, { weight: 2, arbitrary: oddLine }), { maxLength: 40 }),
  ),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  finalNewline: fc.boolean(),
  /** Lines split over this many files of the extract (the fast path reads them in one statement). */
  files: fc.integer({ min: 1, max: 3 }),
});

/** Non-empty data lines, counted the way the contract defines a row (independently of the SQL). */
function expectedRows(content: Buffer): number {
  const text = content.toString('latin1'); // byte-preserving: only LF matters for splitting
  const lines = text.split('\n').slice(1); // header first
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.filter((line) => {
    const withoutCr = line.endsWith('\r') ? line.slice(0, -1) : line;
    // Empty after a leading byte-order mark (EF BB BF, "ï»¿" in latin1) is not a row.
    return withoutCr.replace(/^\u00ef\u00bb\u00bf/, '') !== '';
  }).length;
}

describe('ingest property', () => {
  it('never crashes and accounts for every line', async () => {
    await fc.assert(
      fc.asyncProperty(extract, async ({ lines, crlf, bom, finalNewline, files }) => {
        const source = await tempDir('prop-src');
        const dest = await tempDir('prop-dest');
        const eol = Buffer.from(crlf ? '\r\n' : '\n');
        let expected = 0;
        const perFile = Math.ceil(lines.length / files);
        for (let f = 0; f < files; f++) {
          const parts: Buffer[] = [Buffer.from(bom ? `\uFEFF${CSV_HEADER}` : CSV_HEADER)];
          for (const line of lines.slice(f * perFile, (f + 1) * perFile)) parts.push(eol, line);
          if (finalNewline) parts.push(eol);
          const content = Buffer.concat(parts);
          expected += expectedRows(content);
          await writeExtract(source, DATE, `part-${f}.csv`, content);
        }

        const result = await runLocal(DATE, source, dest);
        // The same extract forced through the line path: both paths must agree on every outcome.
        const linesDest = await tempDir('prop-lines');
        const linesResult = await runLocal(DATE, source, linesDest, { input: { parser: 'lines' } });
        expect({ ...linesResult, runId: '', report: '' }).toEqual({ ...result, runId: '', report: '' });
        expect(await readTable(linesDest, transactions, DATE)).toEqual(await readTable(dest, transactions, DATE));
        expect(['succeeded', 'empty_extract']).toContain(result.status);
        expect(result.rowsRead).toBe(result.rowsAccepted + result.rowsRejected + result.rowsDuplicate);
        expect(result.rowsRead).toBe(expected);
        const [manifest] = await readTable(dest, runManifest, DATE);
        expect(Number(manifest!['rows_read'])).toBe(result.rowsRead);
        const rejected = await readTable(dest, rejects, DATE);
        expect(rejected).toHaveLength(result.rowsRejected);
        expect(rejected.every((r) => typeof r['reason'] === 'string' && r['source_line'] !== null)).toBe(true);
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 40), seed: Number(process.env.PROPERTY_SEED ?? 20241124) },
    );
  });
});
