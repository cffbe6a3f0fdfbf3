/** Return on Customer per period and segment (Peppers & Rogers 2005). */
import { col } from '../catalog.js';
import { shiftDate } from '../dates.js';
import { factColumn } from '../history/customer-facts.js';
import { rocSql, type Period } from '../kpi/value-sql.js';
import { emptyRelation } from '../sql/dialect.js';
import { customerScores } from './customer-scores.js';
import { earlierPartition, type TableModel } from './model.js';

/** Periods of the table, ending at the run date. */
const ROC_PERIODS = [
  ['1d', 1],
  ['30d', 30],
] as const;

export const roc = {
  name: 'roc',
  description:
    'Return on Customer per period and segment: (cash flow from the customers + change in their customer equity) / equity at the start (Peppers & Rogers 2005).',
  columns: [
    col('period', 'string', 'Period ending at the run date: "1d" or "30d".'),
    col('period_start', 'date', 'Scores of this date are the start of the period (run date − period).'),
    col('segment', 'string', 'Segment at the start of the period, or "ALL".'),
    col('customers', 'bigint', 'Customers scored at the start (the cohort; customers acquired during the period are not in it).'),
    col('equity_start', 'double', 'Customer equity at the start: sum of the cohort\'s clv then; NULL when no model converged.', true),
    col('equity_end', 'double', 'Sum of the same customers\' clv at the run date.', true),
    col('cash_flow', 'double', 'Net revenue (purchases − returns) of the cohort in the period.'),
    col('equity_change', 'double', 'equity_end − equity_start.', true),
    col('roc', 'double', '(cash_flow + equity_change) / equity_start; NULL when equity_start is NULL or 0.', true),
  ],
  orderBy: ['period', 'segment'],
  key: ['period', 'segment'],
  checks: { accepted: { period: () => ROC_PERIODS.map(([name]) => name) } },
  facts: () => ({ netSpendDays: ROC_PERIODS.map(([, days]) => days) }),
  build: async (ctx): Promise<string> => {
    const periods: Period[] = [];
    for (const [name, days] of ROC_PERIODS) {
      const start = shiftDate(ctx.date, -days);
      const startScores = await earlierPartition(ctx, customerScores, start);
      if (!startScores) continue;
      const cashFlow = `SELECT customer_id, ${factColumn.netSpend(days)} AS amount FROM (${ctx.customers}) AS f`;
      periods.push({ name, start, startScores: `SELECT customer_id, segment, clv FROM (${startScores}) AS s`, cashFlow });
    }
    return rocSql(periods, `SELECT customer_id, clv FROM (${ctx.scored}) AS s`) ?? emptyRelation(roc);
  },
} as const satisfies TableModel;
