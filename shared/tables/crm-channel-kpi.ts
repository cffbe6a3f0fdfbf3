/** The CRM channels' KPIs over the KPI period, long format, with their share of all revenue. */
import { col } from '../catalog.js';
import { ANY_CONSENT, CONSENT_FIELDS } from '../ingest/kinds.js';
import { kpiPeriod } from '../kpi/kpi-sql.js';
import { valuesRelation } from '../sql/dialect.js';
import { campaignDaily } from './campaign-daily.js';
import { dailySumsSql } from './campaign-performance.js';
import { crmCosts } from './crm-costs.js';
import { customers } from './customers.js';
import { wholeHistory, type TableModel } from './model.js';

export const CRM_CHANNEL_KPI_DEFINITIONS = {
  sent: 'Messages sent in the period.',
  delivered: 'Messages delivered in the period.',
  unique_opens: 'Customers whose first open of a campaign fell in the period: each once per campaign ever, as in campaign_performance, so that consecutive periods add up to its unique opens.',
  unique_clicks: 'Customers whose first click on a campaign fell in the period (as unique_opens).',
  unsubscribes: '"unsubscribed" events in the period.',
  open_rate: 'unique_opens / delivered.',
  click_through_rate: 'unique_clicks / delivered.',
  unsubscribe_rate: 'unsubscribes / delivered.',
  consented_customers: 'Customers whose current profile consents to the channel (email, sms, push; any of them for ALL); no row for channels without a consent.',
  attributed_orders: 'Purchase orders placed in the period attributed to the channel\'s messages (attribution.click_days / open_days).',
  attributed_revenue: 'Value of those orders.',
  attributed_revenue_share: 'attributed_revenue / all net revenue in the period (kpi_daily\'s revenue for ALL): the CRM channels\' share of the revenue.',
  cost: 'crm_costs in the period: the campaigns\' and the channel\'s fixed costs.',
} as const;
type Metric = keyof typeof CRM_CHANNEL_KPI_DEFINITIONS;

/** The metrics ALL sums over the channels; the rates are recomputed from the sums, consents counted once per customer. */
const ADDITIVE = ['sent', 'delivered', 'unique_opens', 'unique_clicks', 'unsubscribes', 'attributed_orders', 'attributed_revenue', 'cost'] as const;
const ALL = 'ALL';

type Figures = Record<(typeof ADDITIVE)[number], number> & { consented_customers: number | null };

export const crmChannelKpi = {
  name: 'crm_channel_kpi',
  description:
    'CRM KPIs over the KPI period (kpi.period_days up to the run date), long format: one row per (metric, crm_channel), "ALL" for every CRM channel together; no rows on a night without CRM data (definitions in the README).',
  columns: [
    col('metric', 'string', 'KPI name (each defined below the table).'),
    col('crm_channel', 'string', 'CRM channel (email, sms, push, …); "ALL" for the programme.'),
    col('value', 'double', 'Value of the KPI; NULL when it has no base (a rate without deliveries).', true),
  ],
  key: ['metric', 'crm_channel'],
  orderBy: ['metric', 'crm_channel'],
  metrics: CRM_CHANNEL_KPI_DEFINITIONS,
  facts: (config) => ({ kpi: config.kpi }),
  build: async (ctx): Promise<string> => {
    const period = kpiPeriod(ctx.date, ctx.config.kpi);
    const costs = await wholeHistory(ctx, crmCosts);
    const profiles = ctx.written(customers);
    const rows = await ctx.engine.query<{ channel: string } & Record<string, number | null>>(`
      WITH funnel AS (${dailySumsSql(ctx.written(campaignDaily), period.onDate('day'), ['channel'])}),
      spend AS (SELECT channel, sum(amount) AS cost FROM (${costs}) AS c WHERE ${period.onDate('cost_date')} GROUP BY channel),
      consents AS (${[...Object.entries(CONSENT_FIELDS), [ALL, ANY_CONSENT]]
        .map(([channel, consent]) => `SELECT '${channel}' AS channel, count(CASE WHEN ${consent} THEN 1 END) AS consented_customers FROM (${profiles}) AS p`)
        .join(' UNION ALL ')}),
      revenue AS (SELECT sum(coalesce(period_gross, 0) - coalesce(period_returned, 0)) AS net_revenue FROM (${ctx.customers}) AS f)
      SELECT channel, ${ADDITIVE.map((m) => `CAST(coalesce(${m}, 0) AS DOUBLE) AS ${m}`).join(', ')},
        CAST(consented_customers AS DOUBLE) AS consented_customers, CAST((SELECT net_revenue FROM revenue) AS DOUBLE) AS net_revenue
      FROM funnel FULL JOIN spend USING (channel) FULL JOIN consents USING (channel)
      -- A consent count alone (every night a profile exists) is no CRM activity: such a channel has a row only beside activity.
      WHERE (SELECT count(*) FROM funnel) + (SELECT count(*) FROM spend) > 0
      ORDER BY channel`);
    const all = rows.find((r) => r.channel === ALL);
    const channels = rows.filter((r) => r.channel !== ALL);
    if (channels.length === 0) return valuesRelation(crmChannelKpi, []);
    const total = Object.fromEntries(ADDITIVE.map((m) => [m, channels.reduce((sum, r) => sum + (r[m] ?? 0), 0)])) as Figures;
    total.consented_customers = all?.consented_customers ?? 0;
    const netRevenue = rows[0]!['net_revenue'] ?? null;
    const share = (part: number, whole: number | null) => (whole ? part / whole : null);
    const long = [...channels.map((r) => [r.channel, r as unknown as Figures] as const), [ALL, total] as const].flatMap(([channel, f]) => {
      const values: Record<Metric, number | null> = {
        ...f,
        open_rate: share(f.unique_opens, f.delivered),
        click_through_rate: share(f.unique_clicks, f.delivered),
        unsubscribe_rate: share(f.unsubscribes, f.delivered),
        attributed_revenue_share: share(f.attributed_revenue, netRevenue),
      };
      return (Object.keys(CRM_CHANNEL_KPI_DEFINITIONS) as Metric[])
        .filter((metric) => metric !== 'consented_customers' || f.consented_customers !== null)
        .map((metric) => ({ metric, crm_channel: channel, value: values[metric] }));
    });
    return valuesRelation(crmChannelKpi, long);
  },
} as const satisfies TableModel;
