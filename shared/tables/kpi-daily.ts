/** The CRM KPIs per channel as of the run date, long format. */
import { col } from '../catalog.js';
import { npsSql } from '../crm/nps-sql.js';
import { ANY_CONSENT } from '../ingest/kinds.js';
import { KPI_DEFINITIONS, kpiPeriod, kpiRows, kpiWideSql } from '../kpi/kpi-sql.js';
import { valuesRelation } from '../sql/dialect.js';
import { customers } from './customers.js';
import { wholeHistory, type TableModel } from './model.js';
import { surveyResponses } from './survey-responses.js';

/**
 * The CRM platform's KPIs, for ALL only (they belong to no sales channel), and only once the
 * platform has delivered profiles (the first two) or survey answers (the last two) up to D: a
 * night without CRM data publishes the sales KPIs alone, as before there were CRM sources.
 */
const CRM_KPI_DEFINITIONS = {
  new_signups: 'Customers whose current profile (customers) signed up in the period (ALL only).',
  consented_customers: 'Customers whose current profile consents to email, SMS or push (ALL only).',
  survey_responses: 'Survey answers given in the period (ALL only).',
  nps: 'Net Promoter Score of those answers, in points: 100 × (promoters (9–10) − detractors (0–6)) / answers (ALL only; survey_summary per segment, with its interval).',
} as const;
const METRICS = { ...KPI_DEFINITIONS, ...CRM_KPI_DEFINITIONS };

export const kpiDaily = {
  name: 'kpi_daily',
  description:
    'CRM KPIs as of the run date, long format: one row per (metric, channel), "ALL" for every channel together (definitions in the README).',
  columns: [
    col('metric', 'string', 'KPI name, e.g. active_customers, retention_rate, revenue (each defined below the table).'),
    col('channel', 'string', 'Sales channel; "ALL" for the total, "unknown" for orders delivered without one.'),
    col('value', 'double', 'Value of the KPI; NULL when it has no base (a rate over zero customers).', true),
  ],
  orderBy: ['metric', 'channel'],
  key: ['metric', 'channel'],
  metrics: METRICS,
  facts: (config) => ({ kpi: config.kpi }),
  build: async (ctx): Promise<string> => {
    const sales = kpiRows(await ctx.engine.query(kpiWideSql(ctx.customers, ctx.channels, ctx.assignment, ctx.date, ctx.config.kpi)));
    const inPeriod = kpiPeriod(ctx.date, ctx.config.kpi).onTime;
    const answered = await wholeHistory(ctx, surveyResponses);
    const [profiles, answers] = await Promise.all([
      ctx.engine.query<{ profiles: number; new_signups: number; consented_customers: number }>(`SELECT CAST(count(*) AS DOUBLE) AS profiles,
        CAST(count(CASE WHEN ${inPeriod('signed_up_at')} THEN 1 END) AS DOUBLE) AS new_signups,
        CAST(count(CASE WHEN ${ANY_CONSENT} THEN 1 END) AS DOUBLE) AS consented_customers FROM (${ctx.written(customers)}) AS c`),
      ctx.engine.query<{ answers: number; survey_responses: number; nps: number | null }>(`SELECT CAST(count(*) AS DOUBLE) AS answers,
        CAST(count(CASE WHEN ${inPeriod('answered_at')} THEN 1 END) AS DOUBLE) AS survey_responses,
        ${npsSql(`CASE WHEN ${inPeriod('answered_at')} THEN score END`)} AS nps FROM (${answered}) AS s`),
    ]);
    const crm = [
      ...(profiles[0]!.profiles > 0 ? (['new_signups', 'consented_customers'] as const).map((metric) => ({ metric, value: profiles[0]![metric] })) : []),
      ...(answers[0]!.answers > 0 ? (['survey_responses', 'nps'] as const).map((metric) => ({ metric, value: answers[0]![metric] })) : []),
    ];
    return valuesRelation(kpiDaily, [...sales, ...crm.map((row) => ({ ...row, channel: 'ALL' }))]);
  },
} as const satisfies TableModel;
