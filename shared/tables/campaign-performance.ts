/** Each campaign's messages, what the customers did with them, the orders they drove and their cost. */
import { col } from '../catalog.js';
import { shiftDate } from '../dates.js';
import { dateLiteral } from '../sql/dialect.js';
import { crmCosts } from './crm-costs.js';
import { crmEvents } from './crm-events.js';
import { wholeHistory, type TableModel } from './model.js';

/** A campaign or channel the platform left empty is reported under this name, as kpi_daily's channels. */
export const UNKNOWN = 'unknown';

/** How campaigns rank where the best are listed (the report, Slack's `campaigns`): most attributed revenue first. */
export const CAMPAIGN_RANKING = 'attributed_revenue DESC, delivered DESC, campaign_id, channel';

/** The funnel's figures, as {@link funnelSql} names them. */
export const FUNNEL_COUNTS = ['sent', 'delivered', 'unique_opens', 'unique_clicks', 'unsubscribes', 'bounces', 'complaints'] as const;

/**
 * The funnel of the events matching `where`, grouped by `by` (columns of the events, campaign_id
 * named "unknown" when empty): messages by event type, and the customers who opened or clicked a
 * campaign. The unique counts read the opens and clicks only (an eighth of the events), as
 * distinct rows then counted: a distinct count over every event cost twice as much at 40M events.
 * With `deliveredOnly`, an open or click counts only for a customer the campaign delivered to
 * under `where`: over a period, a response to a message delivered before it would otherwise count
 * without its delivery (a CTR above 100 % on a small triggered channel).
 */
export function funnelSql(events: string, where: string, by: readonly string[], deliveredOnly = false): string {
  const count = (type: string) => `count(CASE WHEN event_type = '${type}' THEN 1 END)`;
  const campaign = `coalesce(campaign_id, '${UNKNOWN}') AS campaign_id`;
  const columns = by.map((c) => (c === 'campaign_id' ? campaign : c));
  const pair = [...new Set([...by, 'campaign_id', 'customer_id'])];
  // The events twice, not a CTE read twice: DuckDB would materialise that (41M rows spilled to disk).
  const rows = (filter: string) => `(SELECT ${[...new Set([...columns, campaign])].join(', ')}, customer_id, event_type FROM (${events}) AS x WHERE ${where}${filter}) AS e`;
  return `WITH counts AS (SELECT ${by.join(', ')}, ${count('sent')} AS sent, ${count('delivered')} AS delivered, ${count('unsubscribed')} AS unsubscribes,
        ${count('bounced')} AS bounces, ${count('complained')} AS complaints FROM ${rows('')} GROUP BY ALL),
    touched AS (SELECT DISTINCT ${pair.join(', ')}, event_type FROM ${rows(" AND event_type IN ('opened', 'clicked')")}),
    ${deliveredOnly ? `reached AS (SELECT DISTINCT ${pair.join(', ')} FROM ${rows(" AND event_type = 'delivered'")}),` : ''}
    uniques AS (SELECT ${by.join(', ')}, ${count('opened')} AS unique_opens, ${count('clicked')} AS unique_clicks
      FROM touched ${deliveredOnly ? `SEMI JOIN reached USING (${pair.join(', ')})` : ''} GROUP BY ALL)
    SELECT ${by.join(', ')}, ${FUNNEL_COUNTS.map((c) => `coalesce(${c}, 0) AS ${c}`).join(', ')} FROM counts FULL JOIN uniques USING (${by.join(', ')})`;
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
    const [events, costs] = await Promise.all([wholeHistory(ctx, crmEvents), wholeHistory(ctx, crmCosts)]);
    const rate = (part: string, whole: string) => `${part} / nullif(CAST(${whole} AS DOUBLE), 0)`;
    return `WITH funnel AS (${funnelSql(events, `occurred_at < ${dateLiteral(shiftDate(ctx.date, 1))}`, ['campaign_id', 'channel'])}),
      orders AS (
        SELECT coalesce(campaign_id, '${UNKNOWN}') AS campaign_id, channel, count(*) AS attributed_orders, sum(amount) AS attributed_revenue
        FROM (${ctx.attributed}) AS a GROUP BY ALL),
      spend AS (
        SELECT campaign_id, channel, sum(amount) AS cost FROM (${costs}) AS c
        WHERE campaign_id IS NOT NULL AND cost_date <= ${dateLiteral(ctx.date)} GROUP BY ALL),
      rows AS (
        SELECT campaign_id, channel, ${FUNNEL_COUNTS.map((c) => `coalesce(${c}, 0) AS ${c}`).join(', ')}, coalesce(attributed_orders, 0) AS attributed_orders,
          coalesce(attributed_revenue, 0) AS attributed_revenue, coalesce(cost, 0) AS cost
        FROM funnel FULL JOIN orders USING (campaign_id, channel) FULL JOIN spend USING (campaign_id, channel))
      SELECT campaign_id, channel, sent, delivered, unique_opens, unique_clicks, unsubscribes, bounces, complaints,
        ${rate('unique_opens', 'delivered')} AS open_rate, ${rate('unique_clicks', 'delivered')} AS click_through_rate,
        ${rate('unique_clicks', 'unique_opens')} AS click_to_open_rate, ${rate('unsubscribes', 'delivered')} AS unsubscribe_rate,
        attributed_orders, attributed_revenue, cost, ${rate('attributed_revenue', 'delivered')} AS revenue_per_delivered
      FROM rows`;
  },
} as const satisfies TableModel;
