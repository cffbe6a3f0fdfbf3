/**
 * Extracts as an attacker or a careless upstream system would deliver them: damaged gzip, lines
 * of tens of megabytes, a decompression bomb, file names the engine could read as globs, S3 keys
 * that climb out of the scratch folder, and links out of the source. For each, through both
 * parser paths: the run ends (each test's timeout is its bound: 60 s, the large inputs made on
 * the fly), every row read ends in exactly one place (rows_read = accepted + rejected +
 * duplicate), and the file's problem is named in `rejects`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejects, runManifest, transactions } from '../shared/tables/index.js';
import { parseConfig } from '../shared/config.js';
import { MAX_LINE_BYTES } from '../shared/ingest/stage-sql.js';
import { S3ObjectStore } from '../shared/adapters/s3-store.js';
import { CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';
import { loopbackS3Client, startLoopbackS3 } from './loopback-s3.js';

const D = '2024-03-01';
const row = (n: number) => `t${n},c${n},2024-03-01T10:00:00,10.00,1,online,EUR,false`;
const rows = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => row(from + i));
const csv = (...lines: string[]) => `${[CSV_HEADER, ...lines].join('\n')}\n`;

/** Runs one night over `source` with each parser path; returns per path the manifest, the accepted ids and the rejects. */
async function runBothPaths(source: string) {
  const results = [];
  for (const parser of ['auto', 'lines'] as const) {
    const dest = await tempDir(`hostile-${parser}`);
    const result = await runLocal(D, source, dest, { input: { parser } });
    expect(result.status, parser).toBe('succeeded');
    const [manifest] = await readTable(dest, runManifest, D);
    const counts = Object.fromEntries(['rows_read', 'rows_accepted', 'rows_rejected', 'rows_duplicate'].map((c) => [c, Number(manifest![c])]));
    expect(counts['rows_read'], parser).toBe(counts['rows_accepted']! + counts['rows_rejected']! + counts['rows_duplicate']!);
    const ids = (await readTable(dest, transactions, D)).map((r) => String(r['transaction_id']));
    const rejected = (await readTable(dest, rejects, D)).map((r) => ({ file: String(r['source_file']), line: r['source_line'] === null ? null : Number(r['source_line']), reason: String(r['reason']) }));
    results.push({ parser, counts, ids: ids.sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))), rejected });
  }
  return results;
}

const file = (name: string) => `transactions/dt=${D}/${name}`;

describe('damaged gzip', () => {
  it('a file that is not gzip, one corrupted in the middle, and a valid member followed by garbage: each named, the lines before the damage kept', async () => {
    const source = await tempDir('gz-src');
    await writeExtract(source, D, 'plain.csv', csv(row(0)));
    await writeExtract(source, D, 'notgzip.csv.gz', 'this is not gzip at all\n');
    const whole = gzipSync(csv(...rows(1, 3000)));
    const corrupted = Buffer.from(whole);
    const damageAt = Math.floor(corrupted.length / 2);
    for (let i = damageAt; i < damageAt + 64; i++) corrupted[i] = corrupted[i]! ^ 0xff;
    await writeExtract(source, D, 'middle.csv.gz', corrupted);
    await writeExtract(source, D, 'garbage.csv.gz', Buffer.concat([gzipSync(csv(...rows(5001, 5100))), Buffer.from('trailing garbage, not a gzip member')]));

    for (const { parser, ids, rejected } of await runBothPaths(source)) {
      const reasons = Object.fromEntries(rejected.filter((r) => r.line === null).map((r) => [r.file, r.reason]));
      expect(reasons[file('notgzip.csv.gz')], parser).toMatch(/^unreadable gzip/);
      expect(reasons[file('middle.csv.gz')], parser).toMatch(/^gzip damaged/);
      expect(reasons[file('garbage.csv.gz')], parser).toMatch(/^gzip damaged/);
      // The valid member is read whole.
      expect(rows(5001, 5100).every((r) => ids.includes(r.split(',')[0]!)), parser).toBe(true);
      // From the damaged member, a run of its first rows: at least the first quarter (the damage
      // sits half-way through the compressed bytes), none invented.
      const middle = ids.filter((id) => Number(id.slice(1)) >= 1 && Number(id.slice(1)) <= 3000);
      expect(middle.length, parser).toBeGreaterThan(750);
      expect(middle, parser).toEqual(rows(1, middle.length).map((r) => r.split(',')[0]));
      expect(ids, parser).toContain('t0');
    }
  });
});

/** Writes a file of `header`, a line of `bytes` bytes, and `after`, streamed (never held in memory). */
async function writeLongLine(path: string, bytes: number, after: string) {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  out.write(`${CSV_HEADER}\n${row(1)}\nt2,c2,2024-03-01T10:00:00,`);
  const block = Buffer.alloc(1 << 20, 0x37);
  for (let written = 0; written < bytes; written += block.length) if (!out.write(block)) await once(out, 'drain');
  out.end(`,1,online,EUR,false\n${after}`);
  await once(out, 'finish');
}

describe('very long lines', () => {
  it('a line of 40 MB is one reject ("line longer than …") and one row read; the rows around it are kept', async () => {
    const source = await tempDir('long-src');
    await writeLongLine(join(source, 'transactions', `dt=${D}`, 'long.csv'), 40 << 20, `${row(3)}\n`);
    for (const { parser, counts, ids, rejected } of await runBothPaths(source)) {
      expect(ids, parser).toEqual(['t1', 't3']);
      expect(rejected, parser).toEqual([{ file: file('long.csv'), line: 3, reason: `line longer than ${MAX_LINE_BYTES} bytes` }]);
      expect(counts['rows_read'], parser).toBe(3);
    }
  }, 120_000);

  it('a gzip of a billion zero bytes is rejected whole as a decompression bomb, quickly', async () => {
    const source = await tempDir('bomb-src');
    // Gzip members concatenate: 16 copies of 64 MiB of zeros make 1 GiB from about 1 MB.
    const member = gzipSync(Buffer.alloc(64 << 20), { level: 9 });
    const bomb = Buffer.concat([gzipSync(csv(row(1))), ...Array.from({ length: 16 }, () => member)]);
    expect(bomb.length).toBeLessThan(2 << 20);
    await writeExtract(source, D, 'bomb.csv.gz', bomb);
    await writeExtract(source, D, 'ok.csv', csv(row(2)));
    for (const { parser, ids, rejected } of await runBothPaths(source)) {
      // Nothing of the bomb is loaded, not even the row before the zeros: one reject for the file.
      expect(ids, parser).toEqual(['t2']);
      expect(rejected, parser).toEqual([{ file: file('bomb.csv.gz'), line: null, reason: expect.stringMatching(/decompression bomb, not loaded$/) }]);
    }
  }, 120_000);
});

describe('file names', () => {
  it('brack[1].csv and star*.csv are read as themselves, never their neighbours', async () => {
    const source = await tempDir('glob-src');
    await writeExtract(source, D, 'brack[1].csv', csv(row(1)));
    await writeExtract(source, D, 'brack1.csv', csv(row(2)));
    await writeExtract(source, D, 'star*.csv', csv(row(3)));
    await writeExtract(source, D, 'starA.csv', csv(row(4)));
    await writeExtract(source, D, 'q?.csv', csv(row(5)));
    for (const { parser, counts, ids } of await runBothPaths(source)) {
      expect(ids, parser).toEqual(['t1', 't2', 't3', 't4', 't5']);
      expect(counts['rows_read'], parser).toBe(5);
      expect(counts['rows_duplicate'], parser).toBe(0);
    }
  });

  it('a symbolic link out of the source is not followed: one reject naming it, relative to the source', async () => {
    const outside = await tempDir('outside');
    await writeFile(join(outside, 'secret.csv'), csv(row(9)));
    const source = await tempDir('link-src');
    await writeExtract(source, D, 'ok.csv', csv(row(1)));
    await symlink(join(outside, 'secret.csv'), join(source, 'transactions', `dt=${D}`, 'linked.csv'));
    for (const { parser, ids, rejected } of await runBothPaths(source)) {
      expect(ids, parser).toEqual(['t1']);
      expect(rejected, parser).toEqual([{ file: file('linked.csv'), line: null, reason: 'a symbolic link to a file outside the source: not read' }]);
    }
  });
});

describe('headers and config', () => {
  it('a mapped column that occurs twice in the header rejects every row of that file, with the reason', async () => {
    const source = await tempDir('dup-src');
    await writeExtract(source, D, 'ok.csv', csv(row(1)));
    await writeExtract(source, D, 'dup.csv', `${CSV_HEADER},amount\n${row(2)},99.00\n${row(3)},98.00\n`);
    for (const { parser, ids, rejected } of await runBothPaths(source)) {
      expect(ids, parser).toEqual(['t1']);
      expect(rejected.map((r) => [r.file, r.line, r.reason]), parser).toEqual([2, 3].map((line) => [file('dup.csv'), line, 'column(s) amount (amount) occur more than once in the header']));
    }
  });

  it('the quote character as delimiter is refused when the config is read', () => {
    expect(() => parseConfig({ input: { delimiter: '"' } })).toThrow(/input\.delimiter: the quote character/);
    expect(parseConfig({ input: { delimiter: ';' } }).input.delimiter).toBe(';');
    // model_fit has one row per model.
    expect(() => parseConfig({ clv: { models: ['bgnbd', 'bgnbd'] } })).toThrow(/clv\.models: each model at most once/);
  });

  it("an unreadable file's reason names it as the source does, never by its local copy", async () => {
    const source = await tempDir('bad-parquet-src');
    await writeExtract(source, D, 'broken.parquet', 'PAR1 this is not parquet PAR1');
    const dest = await tempDir('bad-parquet-dest');
    await runLocal(D, source, dest);
    const [reject] = await readTable(dest, rejects, D);
    expect(reject!['reason']).toMatch(/^unreadable parquet file/);
    expect(String(reject!['reason'])).not.toContain(tmpdir());
  });
});

describe('S3 keys', () => {
  let server: S3rver;
  let client: S3Client;
  beforeAll(async () => {
    let endpoint: string;
    ({ server, endpoint } = await startLoopbackS3(['hostile']));
    client = loopbackS3Client(endpoint);
  });
  afterAll(async () => {
    client?.destroy();
    await server?.close();
  });

  it('keys with ../ and glob characters are fetched inside the scratch folder, each under its own name', async () => {
    const store = new S3ObjectStore('hostile', 'raw/', client);
    const keys = [`transactions/dt=${D}/../../../../escaped.csv`, `transactions/dt=${D}/a[1].csv`, `transactions/dt=${D}/a1.csv`];
    for (const [i, key] of keys.entries()) await client.send(new PutObjectCommand({ Bucket: 'hostile', Key: `raw/${key}`, Body: csv(row(i)) }));
    const root = await tempDir('scratch-root');
    const scratch = join(root, 'run');
    const paths = await Promise.all(keys.map((key) => store.localPath(key, scratch)));
    for (const path of paths) expect(path.startsWith(`${scratch}/`)).toBe(true);
    expect(new Set(paths).size).toBe(keys.length);
    expect(paths.every((p) => /^[0-9a-f]+$/.test(p.slice(p.lastIndexOf('/') + 1)))).toBe(true);
    // Nothing was written beside the scratch folder.
    expect(await readdir(root)).toEqual(['run']);
  });
});
