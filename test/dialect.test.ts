/**
 * One query text, two engines: each query over the history, as written for Athena's tables, is
 * parsed by a Trino grammar and carries none of DuckDB's own spellings; the same text over local
 * rows runs here and gives the answers the tests elsewhere check. Plus the SQL hash against the
 * TypeScript one.
 */
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerSummarySql } from '../shared/clv/summary-sql.js';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { fnv1a32 } from '../shared/holdout/assign.js';
import { holdoutAssignmentSql } from '../shared/holdout/assign-sql.js';
import { channelFactsSql, customerFactsSql } from '../shared/history/customer-facts.js';
import { seenOrdersSql } from '../shared/ingest/ingest.js';
import { AthenaRemote } from '../shared/adapters/athena-remote.js';
import { validationCustomersSql } from '../shared/clv/validate.js';
import { customerScoresSql } from '../shared/rfm/rfm-sql.js';
import { tablesFactsSpec } from '../shared/tables/index.js';
import { fnv1a32Sql, quantileByGroupSql } from '../shared/sql/dialect.js';

const config = parseConfig({});
const DATE = '2024-03-31';
/** On Athena the history is the Glue table before the run date and the run's staged orders. */
const ATHENA = new AthenaRemote(undefined as never, 'crm_metrics', undefined as never);
const ATHENA_EARLIER = ATHENA.earlierSql(DATE);
const ATHENA_HISTORY = `${ATHENA_EARLIER}\nUNION ALL\n${ATHENA.stagedSql('0b5c3f6e-run')}`;
/** What every table asks of the night's pass over the history, on DATE (the validation is due daily). */
const SPEC = tablesFactsSpec(config, DATE);

/** The queries that read the whole history: the only ones that run where the history is. */
const QUERIES: Record<string, string> = {
  customer_facts: customerFactsSql(ATHENA_HISTORY, SPEC),
  channel_facts: channelFactsSql(ATHENA_HISTORY, SPEC),
  seen_orders: seenOrdersSql(ATHENA.stagedSql('0b5c3f6e-run'), ATHENA_EARLIER),
};

/** Spellings only DuckDB understands. */
const DUCKDB_ONLY = [/\blist_distinct\b/, /\/\//, /\blist_reduce\b/, /\blist_transform\b/, /\bstring_split\b/, /\bread_parquet\b/, /\bunicode\(/, /\bxor\(/, /\bquantile_cont\b/, /GROUP BY ALL/];

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open({ threads: 1 });
});
afterAll(async () => {
  await engine?.close();
});

describe('DuckDB and Trino renderings', () => {
  const trino = new TrinoSQL();
  it.each(Object.keys(QUERIES))('%s: the text parses as Trino and has no DuckDB-only spelling', (name) => {
    const sql = QUERIES[name]!;
    expect(trino.validate(sql)).toEqual([]);
    for (const pattern of DUCKDB_ONLY) expect(sql, String(pattern)).not.toMatch(pattern);
  });

  it("catches DuckDB's spellings: a DuckDB-only query fails the check", () => {
    // (DuckDB's list functions are valid Trino syntax with unknown functions: the spelling list catches them.)
    const duckdb = `SELECT customer_id, len(list_distinct(list(order_date))) AS days FROM (${ATHENA_HISTORY}) GROUP BY ALL`;
    expect(DUCKDB_ONLY.filter((pattern) => pattern.test(duckdb)).map(String)).toEqual([String(/\blist_distinct\b/), String(/GROUP BY ALL/)]);
  });

  it('the same texts run in DuckDB on a fixture and hash as the TypeScript assignment does', async () => {
    const history = `SELECT * FROM (VALUES
      ('C001', DATE '2024-01-05', CAST(10 AS DECIMAL(18,4)), 1, 'web', false),
      ('C001', DATE '2024-02-05', CAST(20 AS DECIMAL(18,4)), 1, 'web', false),
      ('C001', DATE '2024-03-15', CAST(4 AS DECIMAL(18,4)), 1, 'web', false),
      ('C002', DATE '2023-12-01', CAST(7 AS DECIMAL(18,4)), 1, 'web', false),
      ('Ünïcødé-7', DATE '2024-03-01', CAST(5 AS DECIMAL(18,4)), 1, 'web', false)) AS t(customer_id, order_date, amount, quantity, channel, is_return)`;
    // Three customers; only C002 bought before the validation's calibration end (2024-01-01).
    const facts = customerFactsSql(history, SPEC);
    const fromFacts: Record<string, string> = {
      customer_scores: customerScoresSql(facts, DATE, config.rfm),
      holdout_assignment: holdoutAssignmentSql(facts, config.holdout),
      clv_summary: customerSummarySql(facts, DATE, 'day'),
      validation_customers: validationCustomersSql(facts, DATE, config.clv)!,
    };
    const expected = { customer_scores: 3, holdout_assignment: 3, clv_summary: 3, validation_customers: 1 };
    for (const [name, n] of Object.entries(expected)) {
      expect((await engine.query(`SELECT count(*) AS n FROM (${fromFacts[name]})`))[0], name).toEqual({ n: String(n) });
    }
    const [row] = await engine.query<{ h: string }>(`SELECT CAST(${fnv1a32Sql("'Ünïcødé-7'")} AS VARCHAR) AS h`);
    expect(Number(row!.h)).toBe(fnv1a32('Ünïcødé-7'));
  });
});

describe("the holdout's winsorizing cap", () => {
  it('interpolates between ranked values (the hand value), without truncating to the DECIMAL', async () => {
    // Revenues 0, 10, 20, 30, 1000 in one window, q = 0.9: position 1 + 4 × 0.9 = 4.6, between the
    // 4th (30) and 5th (1000) values: 30 + 0.6 × 970 = 612. Plus a second window of ties.
    const relation = `SELECT * FROM (VALUES ${[0, 10, 20, 30, 1000].map((r) => `('w1', CAST(${r} AS DECIMAL(38,4)))`).join(', ')},
      ('w2', CAST(5 AS DECIMAL(38,4))), ('w2', CAST(5 AS DECIMAL(38,4)))) AS t("window", revenue)`;
    const caps = await engine.query<{ window: string; cap: number }>(`SELECT "window", cap FROM (${quantileByGroupSql(relation, 'revenue', '"window"', 0.9)}) ORDER BY 1`);
    expect(caps.map((r) => r.window)).toEqual(['w1', 'w2']);
    expect(caps[0]!.cap).toBeCloseTo(612, 9);
    expect(caps[1]!.cap).toBe(5);
    // Not truncated to the DECIMAL's 4 places (quantile_cont of a DECIMAL would be): 1.000294 here.
    const fine = `SELECT * FROM (VALUES ('w', CAST(0.0001 AS DECIMAL(38,4))), ('w', CAST(1 AS DECIMAL(38,4))), ('w', CAST(1.0003 AS DECIMAL(38,4)))) AS t("window", revenue)`;
    const [{ cap }] = (await engine.query(`SELECT cap FROM (${quantileByGroupSql(fine, 'revenue', '"window"', 0.99)})`)) as [{ cap: number }];
    expect(cap).toBeCloseTo(1.000294, 12);
  });
});
