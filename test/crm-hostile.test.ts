/**
 * Hostile extracts of each CRM kind through both parser paths (`sources.<kind>.parser` "auto",
 * where clean CSV files take DuckDB's reader, and "lines"): bad types, missing ids, unknown event
 * types, scores outside 0–10, dangling referrals, broken quoting, short rows, repeats, rows from
 * the future, beside a clean file. Both paths must give the same accepted rows and the same
 * rejects (file, line, reason), and every data line of every file must be in source_manifest as
 * exactly one of accepted, rejected or duplicate.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRM_HEADERS, type CrmKind } from '../shared/demo/crm-programme.js';
import { crmCosts, crmEvents, customerProfiles, rejects, sourceManifest, surveyResponses } from '../shared/tables/index.js';
import { CSV_HEADER, readTable, runLocal, tempDir, writeExtract } from './helpers.js';

const D = '2024-05-01';

/** Per kind: a clean file, and a hostile one with the reasons its bad lines must get (by line number). */
const EXTRACTS: Record<CrmKind, { clean: string[]; hostile: string[]; reasons: Record<number, string>; duplicates: number }> = {
  customers: {
    clean: ['c1,2024-04-01T08:00:00,2024-04-01T08:00:00,,web,true,false,false', 'c2,2024-04-02T08:00:00,2024-04-02T08:00:00,c1,referral,true,true,false'],
    hostile: [
      'c3,2024-04-03T08:00:00,2024-04-03T08:00:00,c2,referral,yes please,false,false',
      ',2024-04-03T08:00:00,,,,true,true,true',
      'c4,not a time,,,,true,true,true',
      'c5,2024-04-05T08:00:00,,c999,referral,true,false,false',
      'c6,2024-04-06T08:00:00,,c6,referral,true,false,false',
      'c7,2024-06-01T08:00:00,,,,true,false,false',
      'c8,"2024-04-08T08:00:00,,,,true,false,false',
      'c9,2024-04-09T08:00:00,,',
      'c10,2024-04-10T08:00:00,2024-04-10T08:00:00,c1,referral,TRUE,False,0',
      'c10,2024-04-10T08:00:00,2024-04-10T08:00:00,c1,referral,true,false,false',
    ],
    reasons: {
      2: 'email_consent is not a boolean: "yes please"',
      3: 'missing customer_id',
      4: 'updated_at is not a valid date/time: "not a time"',
      5: 'referred_by names no customer: "c999"',
      6: 'referred_by is the customer itself',
      7: 'updated_at is after the run date: "2024-06-01T08:00:00"',
      8: 'malformed quoting',
      9: 'expected 8 fields, found 4',
    },
    duplicates: 1,
  },
  crm_events: {
    clean: ['e1,c1,2024-04-30T09:00:00,email,NL,sent', 'e2,c1,2024-04-30T09:01:00,Email,NL,Delivered'],
    hostile: [
      'e3,c1,2024-04-30T09:05:00,email,NL,liked',
      ',c1,2024-04-30T09:05:00,email,NL,opened',
      'e5,,2024-04-30T09:05:00,email,NL,opened',
      'e6,c1,yesterday,email,NL,opened',
      'e7,c1,2024-04-30T09:05:00,,NL,opened',
      'e8,c1,2024-05-02T00:00:00,email,NL,opened',
      'e9,c1,2024-04-30T09:05:00,"email,NL,opened',
      'e10,c1',
      'e11,c1,2024-04-30T09:06:00,sms,,clicked',
      'e11,c1,2024-04-30T09:06:00,sms,,clicked',
      'e1,c1,2024-04-30T09:00:00,email,NL,sent',
    ],
    reasons: {
      2: 'unknown event_type: "liked"',
      3: 'missing event_id',
      4: 'missing customer_id',
      5: 'occurred_at is not a valid date/time: "yesterday"',
      6: 'missing channel',
      7: 'occurred_at is after the run date: "2024-05-02T00:00:00"',
      8: 'malformed quoting',
      9: 'expected 6 fields, found 2',
    },
    duplicates: 2,
  },
  surveys: {
    clean: ['r1,c1,2024-04-30T10:00:00,9,nps', 'r2,c2,2024-04-30,0,nps'],
    hostile: ['r3,c1,2024-04-30T10:00:00,11,nps', 'r4,c1,2024-04-30T10:00:00,-1,nps', 'r5,c1,2024-04-30T10:00:00,7.5,nps', 'r6,c1,2024-04-30T10:00:00,,nps', ',c1,2024-04-30,5,nps', 'r7,c1,2024-04-30,ten,nps', 'r8,c1,2024-04-30,8,nps'],
    reasons: {
      2: 'score is outside 0–10: "11"',
      3: 'score is outside 0–10: "-1"',
      4: 'score is not an integer: "7.5"',
      5: 'missing score',
      6: 'missing response_id',
      7: 'score is not an integer: "ten"',
    },
    duplicates: 0,
  },
  crm_costs: {
    clean: ['2024-04-30,email,NL,0.50,EUR', '2024-04-30,email,,400,EUR'],
    hostile: ['2024-04-30,email,NL,lots,EUR', '2024-13-01,sms,S1,1.00,EUR', ',sms,S1,1.00,EUR', '2024-04-30,,S1,1.00,EUR', '2024-04-30,sms,S1,,EUR', '2024-04-30,email,NL,0.50,EUR', '2024-05-02,sms,S1,1.00,EUR'],
    reasons: {
      2: 'amount is not a number: "lots"',
      3: 'cost_date is not a valid date: "2024-13-01"',
      4: 'missing cost_date',
      5: 'missing channel',
      6: 'missing amount',
      8: 'cost_date is after the run date: "2024-05-02"',
    },
    // An identical row in another file is a row of its own (crm_costs has no key).
    duplicates: 0,
  },
};
const TABLES = { customers: customerProfiles, crm_events: crmEvents, surveys: surveyResponses, crm_costs: crmCosts } as const;

async function writeKind(source: string, kind: string, name: string, lines: readonly string[]) {
  const path = join(source, kind, `dt=${D}`, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${[CRM_HEADERS[kind as CrmKind], ...lines].join('\n')}\n`);
}

describe('hostile CRM extracts, both parser paths', () => {
  it('each kind: the same rows and rejects either way, every line accounted for', async () => {
    const source = await tempDir('crm-hostile');
    await writeExtract(source, D, 'orders.csv', `${CSV_HEADER}\no1,c1,2024-04-30T10:00:00,10.00,1,web,EUR,false\n`);
    for (const [kind, extract] of Object.entries(EXTRACTS)) {
      await writeKind(source, kind, 'a-clean.csv', extract.clean);
      await writeKind(source, kind, 'b-hostile.csv', extract.hostile);
    }
    const results = [];
    for (const parser of ['auto', 'lines'] as const) {
      const dest = await tempDir(`crm-hostile-${parser}`);
      const sources = Object.fromEntries(Object.keys(EXTRACTS).map((kind) => [kind, { parser }]));
      expect((await runLocal(D, source, dest, { sources })).status).toBe('succeeded');
      const manifest = await readTable(dest, sourceManifest, D);
      const rejected = (await readTable(dest, rejects, D)).map((r) => [r['source'], String(r['source_file']).split('/').pop(), r['source_line'] === null ? null : Number(r['source_line']), r['reason']]);
      const accepted = Object.fromEntries(
        await Promise.all(Object.entries(TABLES).map(async ([kind, table]) => [kind, (await readTable(dest, table, D)).map((r) => JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))] as const)),
      );
      results.push({ parser, manifest, rejected, accepted });
    }
    const [auto, lines] = results;
    expect(auto!.rejected).toEqual(lines!.rejected);
    expect(auto!.accepted).toEqual(lines!.accepted);
    expect(auto!.manifest).toEqual(lines!.manifest);

    for (const [kind, extract] of Object.entries(EXTRACTS)) {
      const row = lines!.manifest.find((m) => m['source'] === kind)!;
      const [read, accepted, rejectedRows, duplicate] = ['rows_read', 'rows_accepted', 'rows_rejected', 'rows_duplicate'].map((c) => Number(row[c]));
      expect(read, kind).toBe(extract.clean.length + extract.hostile.length);
      expect(read, kind).toBe(accepted! + rejectedRows! + duplicate!);
      expect(rejectedRows, kind).toBe(Object.keys(extract.reasons).length);
      expect(duplicate, kind).toBe(extract.duplicates);
      expect(accepted, kind).toBe(lines!.accepted[kind]!.length);
      // The hostile file's header is line 1: its data lines are 2, 3, …
      const reasons = Object.fromEntries(lines!.rejected.filter((r) => r[0] === kind).map((r) => [r[2], r[3]]));
      expect(reasons, kind).toEqual(extract.reasons);
    }
  });
});
