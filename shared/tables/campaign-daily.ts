/** Each campaign's funnel and attributed orders day by day: the running totals the CRM tables sum. */
import { col } from '../catalog.js';
import { UNKNOWN_CAMPAIGN } from '../crm/attribution-sql.js';
import { literal } from '../sql/dialect.js';
import { crmEvents } from './crm-events.js';
import { earlierHistory, earlierPartition, wholeHistory, type BuildContext, type TableModel } from './model.js';

/** The event counts, by the event type each counts. */
const EVENT_COUNTS = { sent: 'sent', delivered: 'delivered', opens: 'opened', clicks: 'clicked', unsubscribes: 'unsubscribed', bounces: 'bounced', complaints: 'complained' } as const;
/** The first responses, by the event type each counts. */
const FIRST_RESPONSES = { first_opens: 'opened', first_clicks: 'clicked' } as const;
const FIGURES = [...Object.keys(EVENT_COUNTS), ...Object.keys(FIRST_RESPONSES), 'attributed_orders', 'attributed_revenue'];

export const campaignDaily = {
  name: 'campaign_daily',
  description:
    'One row per day, campaign and CRM channel, from the first event up to the run date: the messages\' events on the day they happened, the customers who responded to the campaign for the first time that day, and the orders placed that day that were attributed to its messages. Each run adds its extract to the previous run\'s totals (rebuilt from the whole history when there is no previous run with the same configuration), and the days add up to campaign_performance.',
  columns: [
    col('day', 'date', 'Day the events happened and the attributed orders were placed (UTC).'),
    col('campaign_id', 'string', 'Campaign (or triggered programme); "unknown" for events delivered without one.'),
    col('channel', 'string', 'CRM channel (email, sms, push, …).'),
    col('sent', 'bigint', 'Messages sent ("sent" events).'),
    col('delivered', 'bigint', 'Messages delivered ("delivered" events).'),
    col('opens', 'bigint', '"opened" events (a customer may open a message several times).'),
    col('clicks', 'bigint', '"clicked" events.'),
    col('unsubscribes', 'bigint', '"unsubscribed" events.'),
    col('bounces', 'bigint', '"bounced" events.'),
    col('complaints', 'bigint', '"complained" events (spam reports).'),
    col('first_opens', 'bigint', 'Customers whose first open of the campaign on the channel was on this day: each customer once per campaign, so that the days add up to its unique opens.'),
    col('first_clicks', 'bigint', 'Customers whose first click on it was on this day.'),
    col('attributed_orders', 'bigint', 'Purchase orders placed on this day attributed to the campaign\'s messages on the channel (attribution.click_days / open_days).'),
    col('attributed_revenue', 'money', 'Value of those orders.'),
  ],
  key: ['day', 'campaign_id', 'channel'],
  orderBy: ['day', 'campaign_id', 'channel'],
  build: async (ctx): Promise<string> => {
    const { carriedFrom: since, delta } = ctx.attribution;
    // Without totals to carry, every event is new and there is nothing to compare the first responses with.
    const fresh = since ? ctx.written(crmEvents) : await wholeHistory(ctx, crmEvents);
    const before = since ? await earlierHistory(ctx, crmEvents) : undefined;
    const carried: string | undefined = since ? await earlierPartition(ctx, campaignDaily, since) : undefined;
    const campaign = `coalesce(campaign_id, '${UNKNOWN_CAMPAIGN}')`;
    const responses = Object.values(FIRST_RESPONSES).map(literal).join(', ');
    const row = (values: Partial<Record<string, string>>) => FIGURES.map((f) => `${values[f] ?? '0'} AS ${f}`).join(', ');
    const firstResponses = `SELECT ${campaign} AS campaign_id, channel, customer_id, event_type, min(occurred_at) AS first_at
      FROM (${fresh}) AS e WHERE event_type IN (${responses}) GROUP BY ALL`;
    // A customer's first response tonight is new unless an earlier night saw one; a late event that
    // happened before the earlier first moves it to its own day.
    const earlierFirsts = before ? await earlierFirstResponses(ctx, before, fresh, responses) : undefined;
    const moves = earlierFirsts
      ? `SELECT CAST(n.first_at AS DATE) AS day, campaign_id, channel, event_type, 1 AS change FROM firsts AS n LEFT JOIN earlier_firsts AS o USING (campaign_id, channel, customer_id, event_type)
           WHERE o.first_at IS NULL OR n.first_at < o.first_at
         UNION ALL SELECT CAST(o.first_at AS DATE), campaign_id, channel, event_type, -1 FROM firsts AS n JOIN earlier_firsts AS o USING (campaign_id, channel, customer_id, event_type)
           WHERE n.first_at < o.first_at`
      : 'SELECT CAST(first_at AS DATE) AS day, campaign_id, channel, event_type, 1 AS change FROM firsts';
    const countIf = (type: string, value = '1') => `sum(CASE WHEN event_type = '${type}' THEN ${value} ELSE 0 END)`;
    return `WITH firsts AS (${firstResponses}),
      ${earlierFirsts ? `earlier_firsts AS (${earlierFirsts}),` : ''}
      changes AS (
        SELECT CAST(occurred_at AS DATE) AS day, ${campaign} AS campaign_id, channel,
          ${row(Object.fromEntries(Object.entries(EVENT_COUNTS).map(([figure, type]) => [figure, countIf(type)])))}
        FROM (${fresh}) AS e GROUP BY ALL
        UNION ALL
        SELECT day, campaign_id, channel, ${row(Object.fromEntries(Object.entries(FIRST_RESPONSES).map(([figure, type]) => [figure, countIf(type, 'change')])))}
        FROM (${moves}) AS m GROUP BY ALL
        UNION ALL SELECT day, campaign_id, channel, ${row({ attributed_orders: 'attributed_orders', attributed_revenue: 'attributed_revenue' })} FROM (${delta}) AS a
        ${carried ? `UNION ALL SELECT day, campaign_id, channel, ${FIGURES.join(', ')} FROM (${carried}) AS c` : ''})
      SELECT day, campaign_id, channel, ${FIGURES.map((f) => `sum(${f}) AS ${f}`).join(', ')} FROM changes GROUP BY ALL
      -- A day whose figures cancelled out (an order attributed elsewhere since) is no row, as in a rebuild.
      HAVING ${FIGURES.map((f) => `sum(${f}) <> 0`).join(' OR ')}`;
  },
} as const satisfies TableModel;

/**
 * The earlier first response of each customer who responded tonight, read from the earlier events of
 * tonight's campaigns only: named in the scan, the campaigns let it skip the row groups of others.
 */
async function earlierFirstResponses(ctx: BuildContext, before: string, fresh: string, responses: string): Promise<string | undefined> {
  const campaigns = await ctx.engine.query<{ campaign_id: string | null }>(`SELECT DISTINCT campaign_id FROM (${fresh}) AS e WHERE event_type IN (${responses})`);
  if (campaigns.length === 0) return undefined;
  const named = campaigns.flatMap((c) => (c.campaign_id === null ? [] : [literal(c.campaign_id)]));
  const filter = [...(named.length ? [`campaign_id IN (${named.join(', ')})`] : []), ...(named.length < campaigns.length ? ['campaign_id IS NULL'] : [])].join(' OR ');
  return `SELECT campaign_id, channel, customer_id, event_type, min(occurred_at) AS first_at
    FROM (SELECT coalesce(campaign_id, '${UNKNOWN_CAMPAIGN}') AS campaign_id, channel, customer_id, event_type, occurred_at
      FROM (${before}) AS e WHERE event_type IN (${responses}) AND (${filter})) AS e
    SEMI JOIN firsts USING (campaign_id, channel, customer_id, event_type)
    GROUP BY ALL`;
}
