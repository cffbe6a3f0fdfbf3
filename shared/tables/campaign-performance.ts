/** Each campaign's messages, what the customers did with them, the orders they drove and their cost. */
import { col } from '../catalog.js';
import { dateLiteral } from '../sql/dialect.js';
import { campaignDaily } from './campaign-daily.js';
import { crmCosts } from './crm-costs.js';
import { wholeHistory, type TableModel } from './model.js';

/** How campaigns rank where the best are listed (the report, Slack's `campaigns`): most attributed revenue first. */
export const CAMPAIGN_RANKING = 'attributed_revenue DESC, delivered DESC, campaign_id, channel';

/** The funnel's figures, summed from campaign_daily (the unique responses are its first responses). */
export const FUNNEL_SUMS = {
  sent: 'sent',
  delivered: 'delivered',
  unique_opens: 'first_opens',
  unique_clicks: 'first_clicks',
  unsubscribes: 'unsubscribes',
  bounces: 'bounces',
  complaints: 'complaints',
  attributed_orders: 'attributed_orders',
  attributed_revenue: 'attributed_revenue',
} as const;

/** The sums of campaign_daily's figures over the days matching `where`, grouped by `by`. */
export function dailySumsSql(daily: string, where: string, by: readonly string[]): string {
  return `SELECT ${by.join(', ')}, ${Object.entries(FUNNEL_SUMS).map(([figure, daily]) => `sum(${daily}) AS ${figure}`).join(', ')}
    FROM (${daily}) AS d WHERE ${where} GROUP BY ALL`;
}

export const campaignPerformance = {
  name: 'campaign_performance',
  description:
    'One row per campaign and CRM channel, over every event up to the run date: the messages\' funnel, the orders attributed to them (last click in attribution.click_days days, else last open in attribution.open_days; each order to one message at most) and the campaign\'s costs. "Unique" counts customers: a triggered programme that sends one customer several messages counts them once among its opens and clicks, but every message among its deliveries.',
  columns: [
    col('campaign_id', 'string', 'Campaign (or triggered programme); "unknown" for events delivered without one.'),
    col('channel', 'string', 'CRM channel (email, sms, push, …).'),
    col('sent', 'bigint', 'Messages sent ("sent" events).'),
    col('delivered', 'bigint', 'Messages delivered ("delivered" events).'),
    col('unique_opens', 'bigint', 'Customers who opened a message of the campaign on the channel.'),
    col('unique_clicks', 'bigint', 'Customers who clicked one.'),
    col('unsubscribes', 'bigint', '"unsubscribed" events.'),
    col('bounces', 'bigint', '"bounced" events.'),
    col('complaints', 'bigint', '"complained" events (spam reports).'),
    col('open_rate', 'double', 'unique_opens / delivered; NULL without deliveries.', true),
    col('click_through_rate', 'double', 'unique_clicks / delivered; NULL without deliveries.', true),
    col('click_to_open_rate', 'double', 'unique_clicks / unique_opens; NULL without opens (SMS reports none).', true),
    col('unsubscribe_rate', 'double', 'unsubscribes / delivered; NULL without deliveries.', true),
    col('attributed_orders', 'bigint', 'Purchase orders attributed to the campaign\'s messages on the channel.'),
    col('attributed_revenue', 'money', 'Value of those orders (returns are not attributed).'),
    col('cost', 'money', 'crm_costs rows of the campaign and channel up to the run date (a channel\'s fixed costs, without a campaign, are in crm_channel_kpi).'),
    col('revenue_per_delivered', 'double', 'attributed_revenue / delivered; NULL without deliveries.', true),
  ],
  key: ['campaign_id', 'channel'],
  orderBy: ['campaign_id', 'channel'],
  build: async (ctx) => {
    const costs = await wholeHistory(ctx, crmCosts);
    const rate = (part: string, whole: string) => `${part} / nullif(CAST(${whole} AS DOUBLE), 0)`;
    return `WITH funnel AS (${dailySumsSql(ctx.written(campaignDaily), 'true', ['campaign_id', 'channel'])}),
      spend AS (
        SELECT campaign_id, channel, sum(amount) AS cost FROM (${costs}) AS c
        WHERE campaign_id IS NOT NULL AND cost_date <= ${dateLiteral(ctx.date)} GROUP BY ALL),
      rows AS (
        SELECT campaign_id, channel, ${Object.keys(FUNNEL_SUMS).map((c) => `coalesce(${c}, 0) AS ${c}`).join(', ')}, coalesce(cost, 0) AS cost
        FROM funnel FULL JOIN spend USING (campaign_id, channel))
      SELECT campaign_id, channel, sent, delivered, unique_opens, unique_clicks, unsubscribes, bounces, complaints,
        ${rate('unique_opens', 'delivered')} AS open_rate, ${rate('unique_clicks', 'delivered')} AS click_through_rate,
        ${rate('unique_clicks', 'unique_opens')} AS click_to_open_rate, ${rate('unsubscribes', 'delivered')} AS unsubscribe_rate,
        attributed_orders, attributed_revenue, cost, ${rate('attributed_revenue', 'delivered')} AS revenue_per_delivered
      FROM rows`;
  },
} as const satisfies TableModel;
