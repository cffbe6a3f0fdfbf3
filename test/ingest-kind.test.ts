/**
 * A CRM kind's extract through the ingest (shared/ingest/ingest.ts, ingestKind): CSV (plain and
 * gzip, a mapped header), JSON Lines and Parquet files with hostile rows; every row ends in one
 * place (accepted, rejected with its reason, or duplicate), and a key seen on an earlier night, or
 * a keyless kind's re-delivered rows, are duplicates.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';
import { dropStaging, ingestKind, REJECTS_RELATION, type ExtractFile, type KindInput } from '../shared/ingest/ingest.js';
import { SOURCE_KINDS, type SourceKind } from '../shared/ingest/kinds.js';
import { localize } from '../shared/ingest/localize.js';
import { formatOf } from '../shared/ingest/stage-sql.js';
import { literal } from '../shared/sql/dialect.js';
import { CRM_HEADERS } from '../shared/demo/crm-programme.js';
import { tempDir } from './helpers.js';

const kind = (name: SourceKind['name']): SourceKind => SOURCE_KINDS.find((k) => k.name === name)!;
const TEXT: KindInput = { delimiter: ',', header: true, parser: 'auto', columns: {} };

let engine: DuckDbEngine;
let dir: string;
beforeEach(async () => {
  engine = await DuckDbEngine.open();
  dir = await tempDir('kind');
});
afterEach(async () => {
  await engine.close();
});

/** Writes the files under `<dir>/src/<date>/`, brings them local as the run does, and ingests them. */
async function ingest(k: SourceKind, date: string, files: Record<string, string | Buffer>, input = TEXT, history: string[] = []) {
  const store = new LocalObjectStore(join(dir, 'src'));
  const extract: ExtractFile[] = [];
  for (const [index, [name, content]] of Object.entries(files).entries()) {
    const key = `${k.name}/dt=${date}/${name}`;
    await mkdir(join(dir, 'src', k.name, `dt=${date}`), { recursive: true });
    await writeFile(join(dir, 'src', key), content);
    const format = formatOf(key);
    extract.push({ key, format, local: format && (await localize(store, key, join(dir, 'scratch'), index, format !== 'parquet')) });
  }
  await mkdir(join(dir, 'scratch'), { recursive: true });
  const counts = await ingestKind(engine, extract, k, input, date, history);
  const accepted = await engine.query('SELECT * FROM new_rows');
  const rejected = await engine.query<{ source_file: string; source_line: string | null; reason: string; raw: string | null }>(`${REJECTS_RELATION} ORDER BY source_file, source_line`);
  return { counts, accepted, rejected };
}

/** Keeps a night's new rows as the kind's curated partition would, for the next night's dedupe. */
async function keep(name: string): Promise<string> {
  const path = join(dir, `${name}.parquet`);
  await engine.run(`COPY (SELECT * FROM new_rows) TO ${literal(path)} (FORMAT parquet)`);
  await dropStaging(engine);
  return path;
}


describe('a CRM kind through the ingest', () => {
  it('crm_events: CSV, gzip, JSON Lines and Parquet, hostile rows each named, every row in one place', async () => {
    const csv = [
      CRM_HEADERS.crm_events,
      'E1,C1,2024-06-01T09:00:00,Email,NL-1,sent',
      'E2,C1,2024-06-01T09:01:00,email,NL-1,delivered',
      'E2,C1,2024-06-01T09:01:00,email,NL-1,delivered', // repeated in the extract: a duplicate
      'E3,C2,2024-06-01T10:00:00,sms,,clicked',
      ',C3,2024-06-01T10:00:00,sms,,clicked',
      'E4,C4,2024-06-01T10:00:00,sms,,openned',
      'E5,C5,not a time,push,,opened',
      'E6,C6,2024-06-01T10:00:00,push,"unclosed,opened',
      'E7,C7,2024-06-01T10:00:00,push',
      '',
    ].join('\n');
    const jsonl = [
      JSON.stringify({ event_id: 'J1', customer_id: 'C1', occurred_at: '2024-06-01T11:00:00Z', channel: 'in_app', campaign_id: 'TRG', event_type: 'opened' }),
      '{"event_id": "J2", broken',
      JSON.stringify({ event_id: 'J3', customer_id: 'C2', occurred_at: '2024-07-01T00:00:00', channel: 'email', event_type: 'sent' }),
    ].join('\n');
    await engine.run(`COPY (SELECT 'P1' AS event_id, 'C9' AS customer_id, TIMESTAMP '2024-06-01 08:00:00' AS occurred_at, 'EMAIL' AS channel,
      'NL-1' AS campaign_id, 'bounced' AS event_type) TO ${literal(join(dir, 'p.parquet'))} (FORMAT parquet)`);
    const { counts, accepted, rejected } = await ingest(kind('crm_events'), '2024-06-30', {
      'a.csv': csv,
      'b.csv.gz': gzipSync(`${CRM_HEADERS.crm_events}\nG1,C1,2024-06-02T09:00:00,email,NL-2,sent\n`),
      'c.jsonl': jsonl,
      'd.parquet': await readFile(join(dir, 'p.parquet')),
      'e.csv': 'event_id,customer_id,channel\nX1,C1,email\n',
    });
    expect(rejected.map((r) => [r.source_file.split('/').pop(), r.source_line === null ? null : Number(r.source_line), r.reason])).toEqual([
      ['a.csv', 6, 'missing event_id'],
      ['a.csv', 7, 'unknown event_type: "openned"'],
      ['a.csv', 8, 'occurred_at is not a valid date/time: "not a time"'],
      ['a.csv', 9, 'malformed quoting'],
      ['a.csv', 10, 'expected 6 fields, found 4'],
      ['c.jsonl', 2, 'not valid JSON'],
      ['c.jsonl', 3, 'occurred_at is after the run date: "2024-07-01T00:00:00"'],
      ['e.csv', 2, 'file lacks column(s) occurred_at (occurred_at), event_type (event_type)'],
    ]);
    expect(rejected.every((r) => r.raw !== null)).toBe(true);
    expect(accepted.map((r) => r['event_id']).sort()).toEqual(['E1', 'E2', 'E3', 'G1', 'J1', 'P1']);
    expect(accepted.find((r) => r['event_id'] === 'P1')).toMatchObject({ channel: 'email', event_type: 'bounced', source_file: 'crm_events/dt=2024-06-30/d.parquet' });
    // 9 data lines + 1 + 3 + 1 + 1 = 15 rows: 6 accepted, 8 rejected, 1 duplicate.
    expect(counts).toMatchObject({ filesRead: 5, rowsRead: 15, rowsAccepted: 6, rowsRejected: 8, rowsDuplicate: 1 });
  });

  it('a mapped column is read from its source name; a key an earlier night holds is a duplicate', async () => {
    const mapped = { ...TEXT, columns: { event_type: 'type', occurred_at: 'ts' } };
    const night1 = await ingest(kind('crm_events'), '2024-06-01', { 'a.csv': 'event_id,customer_id,ts,channel,campaign_id,type\nE1,C1,2024-06-01T09:00:00,email,NL,sent\n' }, mapped);
    expect(night1.accepted).toHaveLength(1);
    const history = await keep('night1');
    const night2 = await ingest(
      kind('crm_events'),
      '2024-06-02',
      { 'a.csv': 'event_id,customer_id,ts,channel,campaign_id,type\nE1,C1,2024-06-01T09:00:00,email,NL,sent\nE2,C1,2024-06-02T09:00:00,email,NL,delivered\n' },
      mapped,
      [history],
    );
    expect(night2.accepted.map((r) => r['event_id'])).toEqual(['E2']);
    expect(night2.counts).toMatchObject({ rowsRead: 2, rowsAccepted: 1, rowsDuplicate: 1, rowsRejected: 0 });
  });

  it('crm_costs, a kind without a key: identical rows of one extract stay distinct, a re-delivered extract is all duplicates', async () => {
    const extract = { 'a.csv': `${CRM_HEADERS.crm_costs}\n2024-06-01,SMS,BF,5.00,EUR\n2024-06-01,SMS,BF,5.00,EUR\n2024-06-01,email,,400.00,EUR\n` };
    const night1 = await ingest(kind('crm_costs'), '2024-06-01', extract);
    expect(night1.counts).toMatchObject({ rowsRead: 3, rowsAccepted: 3, rowsDuplicate: 0 });
    expect(new Set(night1.accepted.map((r) => r['row_id'])).size).toBe(3);
    const history = await keep('costs1');
    const night2 = await ingest(kind('crm_costs'), '2024-06-02', extract, TEXT, [history]);
    expect(night2.counts).toMatchObject({ rowsRead: 3, rowsAccepted: 0, rowsDuplicate: 3 });
  });

  it('crm_events without event ids (id_from): the id is a hash of the fields and the occurrence number, so repeats within a night stay rows and a re-delivery is duplicates', async () => {
    const header = 'customer_id,occurred_at,channel,campaign_id,event_type';
    const extract = { 'a.csv': `${header}\nc1,2024-06-01T09:00:00,email,NL,opened\nc1,2024-06-01T09:00:00,email,NL,opened\nc2,2024-06-01T09:00:00,email,NL,opened\n` };
    const input: KindInput = { ...TEXT, id_from: ['customer_id', 'occurred_at', 'channel', 'campaign_id', 'event_type'] };
    const night1 = await ingest(kind('crm_events'), '2024-06-01', extract, input);
    expect(night1.counts).toMatchObject({ rowsRead: 3, rowsAccepted: 3, rowsDuplicate: 0, rowsRejected: 0 });
    const ids = night1.accepted.map((r) => String(r['event_id']));
    expect(new Set(ids).size).toBe(3);
    // The two identical opens: one hash, occurrences 1 and 2.
    expect(ids[0]!.replace(/-\d+$/, '')).toBe(ids[1]!.replace(/-\d+$/, ''));
    expect([ids[0]!.slice(-2), ids[1]!.slice(-2)].sort()).toEqual(['-1', '-2']);
    const history = await keep('events1');
    const night2 = await ingest(kind('crm_events'), '2024-06-02', extract, input, [history]);
    expect(night2.counts).toMatchObject({ rowsRead: 3, rowsAccepted: 0, rowsDuplicate: 3 });
  });
});
