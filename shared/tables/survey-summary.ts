/** Net Promoter Score per segment over the KPI period, with its interval. */
import { col } from '../catalog.js';
import { npsAggregatesSql } from '../crm/nps-sql.js';
import { kpiPeriod } from '../kpi/kpi-sql.js';
import { dateLiteral } from '../sql/dialect.js';
import { wholeHistory, type TableModel } from './model.js';
import { surveyResponses } from './survey-responses.js';

export const surveySummary = {
  name: 'survey_summary',
  description:
    'NPS of the survey answers given in the KPI period (kpi.period_days up to the run date), per RFM segment of the answering customer as scored that night ("unknown" if not scored) and "ALL".',
  columns: [
    col('period_start', 'date', 'First day of the period (the period is period_start to the run date, both included).'),
    col('segment', 'string', 'RFM segment; "ALL" for every answer.'),
    col('responses', 'bigint', 'Answers in the period.'),
    col('promoters', 'bigint', 'Answers of 9 or 10.'),
    col('passives', 'bigint', 'Answers of 7 or 8.'),
    col('detractors', 'bigint', 'Answers of 0 to 6.'),
    col('nps', 'double', 'Net Promoter Score in points: 100 × (promoters − detractors) / responses; NULL without answers.', true),
    col('nps_ci_low', 'double', '95 % interval of the NPS, lower end (multinomial variance, Wald; see shared/crm/nps-sql.ts).', true),
    col('nps_ci_high', 'double', '95 % interval of the NPS, upper end.', true),
  ],
  key: ['segment'],
  orderBy: ['segment'],
  checks: {
    rules: {
      answers_add_up: 'responses = promoters + passives + detractors',
      nps_in_range: 'nps IS NULL OR nps BETWEEN -100 AND 100',
    },
  },
  build: async (ctx) => {
    const period = kpiPeriod(ctx.date, ctx.config.kpi);
    const answers = await wholeHistory(ctx, surveyResponses);
    // The grand total labelled by grouping(), so that a segment named "ALL" could never merge into it.
    return `SELECT ${dateLiteral(period.firstDay)} AS period_start, CASE WHEN grouping(segment) = 1 THEN 'ALL' ELSE segment END AS segment,
        ${npsAggregatesSql('score').join(', ')}
      FROM (SELECT a.score, coalesce(s.segment, 'unknown') AS segment
        FROM (${answers}) AS a LEFT JOIN (${ctx.rfmScores}) AS s ON s.customer_id = a.customer_id
        WHERE ${period.onTime('a.answered_at')}) AS r
      GROUP BY GROUPING SETS ((segment), ())`;
  },
} as const satisfies TableModel;
