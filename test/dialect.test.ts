/**
 * One query definition, two engines: the Trino (Athena) rendering of each scale-out query is parsed
 * by a Trino grammar and carries none of DuckDB's own spellings; its DuckDB twin runs here and
 * gives the answers the tests elsewhere check (and here: the same hash as the TypeScript one).
 */
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerSummarySql } from '../shared/clv/summary-sql.js';
import { parseConfig } from '../shared/config.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import { fnv1a32 } from '../shared/holdout/assign.js';
import { holdoutAssignmentSql } from '../shared/holdout/assign-sql.js';
import { holdoutStatsSql } from '../shared/holdout/results-sql.js';
import { kpiWideSql } from '../shared/kpi/kpi-sql.js';
import { spendSql } from '../shared/kpi/value-sql.js';
import { seenOrdersSql } from '../shared/ingest/ingest.js';
import { AthenaRemote } from '../shared/adapters/athena-remote.js';
import { validationCustomersSql } from '../shared/clv/validate.js';
import { customerScoresSql } from '../shared/rfm/rfm-sql.js';
import { DUCKDB, TRINO, type Dialect } from '../shared/sql/dialect.js';

const config = parseConfig({});
const DATE = '2024-03-31';
/** On Athena the history is the Glue table before the run date and the run's staged orders. */
const ATHENA = new AthenaRemote(undefined as never, 'crm_metrics', undefined as never);
const ATHENA_EARLIER = ATHENA.earlierSql(DATE);
const ATHENA_HISTORY = `${ATHENA_EARLIER}\nUNION ALL\n${ATHENA.stagedSql('0b5c3f6e-run')}`;

const QUERIES: Record<string, (history: string, dialect: Dialect) => string> = {
  customer_scores: (h, d) => customerScoresSql(h, DATE, config.rfm, d),
  holdout_assignment: (h, d) => holdoutAssignmentSql(h, config.holdout, d),
  // These two need no dialect helper: the same text serves both engines.
  clv_summary: (h) => customerSummarySql(h, DATE, 'day'),
  holdout_stats: (h, d) =>
    holdoutStatsSql(
      h,
      `SELECT * FROM holdout_assignment WHERE dt = DATE '${DATE}'`,
      [{ name: 'last_30_days', start: '2024-03-02', end: DATE }],
      () => `SELECT customer_id, segment FROM customer_scores WHERE dt = DATE '2024-03-01'`,
      0.99,
      d,
    ),
  kpi_daily: (h) => kpiWideSql(h, `SELECT customer_id, holdout_group FROM holdout_assignment WHERE dt = DATE '${DATE}'`, DATE, config.kpi),
  validation_customers: (h) => validationCustomersSql(h, DATE, config.clv)!,
  period_spend: (h) => spendSql(h, '2024-03-01', DATE, true),
  seen_orders: (h, d) => seenOrdersSql(d === TRINO ? ATHENA.stagedSql('0b5c3f6e-run') : h, d === TRINO ? ATHENA_EARLIER : h),
};

/** Spellings only DuckDB understands. */
const DUCKDB_ONLY = [/\/\//, /\blist_reduce\b/, /\blist_transform\b/, /\bstring_split\b/, /\bread_parquet\b/, /\bunicode\(/, /\bxor\(/, /\bquantile_cont\b/, /GROUP BY ALL/];

let engine: DuckDbEngine;
beforeAll(async () => {
  engine = await DuckDbEngine.open({ threads: 1 });
});
afterAll(async () => {
  await engine?.close();
});

describe('DuckDB and Trino renderings', () => {
  const trino = new TrinoSQL();
  it.each(Object.keys(QUERIES))('%s: the Trino text parses and has no DuckDB-only spelling', (name) => {
    const sql = QUERIES[name]!(ATHENA_HISTORY, TRINO);
    expect(trino.validate(sql)).toEqual([]);
    for (const pattern of DUCKDB_ONLY) expect(sql, String(pattern)).not.toMatch(pattern);
  });

  it("rejects DuckDB's integer division: the parser tells the dialects apart", () => {
    // (DuckDB's list lambdas are valid Trino syntax with unknown functions: the spelling list above catches those.)
    expect(trino.validate(QUERIES['customer_scores']!(ATHENA_HISTORY, DUCKDB)).length).toBeGreaterThan(0);
  });

  it('the DuckDB twins run on a fixture and hash as the TypeScript assignment does', async () => {
    const history = `SELECT * FROM (VALUES
      ('C001', DATE '2024-01-05', CAST(10 AS DECIMAL(18,4)), false),
      ('C001', DATE '2024-02-05', CAST(20 AS DECIMAL(18,4)), false),
      ('C001', DATE '2024-03-15', CAST(4 AS DECIMAL(18,4)), false),
      ('C002', DATE '2023-12-01', CAST(7 AS DECIMAL(18,4)), false),
      ('Ünïcødé-7', DATE '2024-03-01', CAST(5 AS DECIMAL(18,4)), false)) AS t(customer_id, order_date, amount, is_return)`;
    // Three customers; only C002 bought before the validation's calibration end (2024-01-01), only
    // C001 after the period start 2024-03-01.
    const expected = { customer_scores: 3, holdout_assignment: 3, clv_summary: 3, validation_customers: 1, period_spend: 1 };
    for (const [name, n] of Object.entries(expected)) {
      expect((await engine.query(`SELECT count(*) AS n FROM (${QUERIES[name]!(history, DUCKDB)})`))[0], name).toEqual({ n: String(n) });
    }
    const [row] = await engine.query<{ h: string }>(`SELECT CAST(${DUCKDB.fnv1a32("'Ünïcødé-7'")} AS VARCHAR) AS h`);
    expect(Number(row!.h)).toBe(fnv1a32('Ünïcødé-7'));
  });
});

describe("the holdout's winsorizing cap", () => {
  it("Trino's ranked interpolation, run here, equals DuckDB's quantile_cont (and the hand value)", async () => {
    // Revenues 0, 10, 20, 30, 1000 in one window, q = 0.9: position 1 + 4 × 0.9 = 4.6, between the
    // 4th (30) and 5th (1000) values: 30 + 0.6 × 970 = 612. Plus a second window of ties.
    const relation = `SELECT * FROM (VALUES ${[0, 10, 20, 30, 1000].map((r) => `('w1', CAST(${r} AS DECIMAL(38,4)))`).join(', ')},
      ('w2', CAST(5 AS DECIMAL(38,4))), ('w2', CAST(5 AS DECIMAL(38,4)))) AS t("window", revenue)`;
    const caps = async (dialect: Dialect) =>
      engine.query<{ window: string; cap: number }>(`SELECT "window", cap FROM (${dialect.quantileByGroup(relation, 'revenue', '"window"', 0.9)}) ORDER BY 1`);
    const [duck, trinoTwin] = [await caps(DUCKDB), await caps(TRINO)];
    expect(duck.map((r) => r.window)).toEqual(['w1', 'w2']);
    expect(duck[0]!.cap).toBeCloseTo(612, 9);
    expect(duck[1]!.cap).toBe(5);
    // Not truncated to the DECIMAL's 4 places (quantile_cont of a DECIMAL would be): 1.000294 here.
    const fine = `SELECT * FROM (VALUES ('w', CAST(0.0001 AS DECIMAL(38,4))), ('w', CAST(1 AS DECIMAL(38,4))), ('w', CAST(1.0003 AS DECIMAL(38,4)))) AS t("window", revenue)`;
    const [{ cap }] = (await engine.query(`SELECT cap FROM (${DUCKDB.quantileByGroup(fine, 'revenue', '"window"', 0.99)})`)) as [{ cap: number }];
    expect(cap).toBeCloseTo(1.000294, 12);
    // The same interpolation, to the last bit or one unit in it (the engines order the float
    // operations differently); capped revenue is DECIMAL(38,4), so the sums agree exactly.
    trinoTwin.forEach((r, i) => expect(r.cap).toBeCloseTo(duck[i]!.cap, 9));
  });
});
