/** Each campaign's messages, what the customers did with them, the orders they drove and their cost. */
import { col } from '../catalog.js';
import { dateLiteral } from '../sql/dialect.js';
import { crmCosts } from './crm-costs.js';
import { crmEvents } from './crm-events.js';
import { wholeHistory, type TableModel } from './model.js';

/** A campaign or channel the platform left empty is reported under this name, as kpi_daily's channels. */
export const UNKNOWN = 'unknown';

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
    const day = dateLiteral(ctx.date);
    const [events, costs] = await Promise.all([wholeHistory(ctx, crmEvents), wholeHistory(ctx, crmCosts)]);
    const count = (type: string) => `count(CASE WHEN event_type = '${type}' THEN 1 END)`;
    const customers = (type: string) => `count(DISTINCT CASE WHEN event_type = '${type}' THEN customer_id END)`;
    const rate = (part: string, whole: string) => `${part} / nullif(CAST(${whole} AS DOUBLE), 0)`;
    return `WITH funnel AS (
        SELECT coalesce(campaign_id, '${UNKNOWN}') AS campaign_id, channel, ${count('sent')} AS sent, ${count('delivered')} AS delivered,
          ${customers('opened')} AS unique_opens, ${customers('clicked')} AS unique_clicks, ${count('unsubscribed')} AS unsubscribes,
          ${count('bounced')} AS bounces, ${count('complained')} AS complaints
        FROM (${events}) AS e WHERE CAST(occurred_at AS DATE) <= ${day} GROUP BY ALL),
      orders AS (
        SELECT coalesce(campaign_id, '${UNKNOWN}') AS campaign_id, channel, count(*) AS attributed_orders, sum(amount) AS attributed_revenue
        FROM (${ctx.attributed}) AS a GROUP BY ALL),
      spend AS (
        SELECT campaign_id, channel, sum(amount) AS cost FROM (${costs}) AS c
        WHERE campaign_id IS NOT NULL AND cost_date <= ${day} GROUP BY ALL),
      rows AS (
        SELECT campaign_id, channel, coalesce(sent, 0) AS sent, coalesce(delivered, 0) AS delivered, coalesce(unique_opens, 0) AS unique_opens,
          coalesce(unique_clicks, 0) AS unique_clicks, coalesce(unsubscribes, 0) AS unsubscribes, coalesce(bounces, 0) AS bounces,
          coalesce(complaints, 0) AS complaints, coalesce(attributed_orders, 0) AS attributed_orders,
          coalesce(attributed_revenue, 0) AS attributed_revenue, coalesce(cost, 0) AS cost
        FROM funnel FULL JOIN orders USING (campaign_id, channel) FULL JOIN spend USING (campaign_id, channel))
      SELECT campaign_id, channel, sent, delivered, unique_opens, unique_clicks, unsubscribes, bounces, complaints,
        ${rate('unique_opens', 'delivered')} AS open_rate, ${rate('unique_clicks', 'delivered')} AS click_through_rate,
        ${rate('unique_clicks', 'unique_opens')} AS click_to_open_rate, ${rate('unsubscribes', 'delivered')} AS unsubscribe_rate,
        attributed_orders, attributed_revenue, cost, ${rate('attributed_revenue', 'delivered')} AS revenue_per_delivered
      FROM rows`;
  },
} as const satisfies TableModel;
