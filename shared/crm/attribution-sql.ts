/**
 * Last-touch attribution of orders to CRM messages, the rule `campaign_performance` and the CRM
 * channels' share of revenue are built on:
 *
 * - an order is attributed to its customer's last click in the `click_days` days before it (a
 *   click at t counts for an order at o when o − click_days·24h ≤ t < o);
 * - an order without such a click goes to the customer's last open in the `open_days` days before it;
 * - each order goes to at most one message: of touches at the same instant, the one with the
 *   greater event id (the platform's later record) wins, so the result does not depend on row order.
 *
 * Orders are purchases (returns are not attributed: a refund is booked against its order's own
 * revenue where revenue is reported net). Written in the SQL DuckDB and Trino share, as the night's
 * other history queries, so that it can run where the events are.
 */
/** The campaign of a message the platform sent without one, in the attribution and the tables on it. */
export const UNKNOWN_CAMPAIGN = 'unknown';

/** The embedded engine's temp table of what tonight changes in the attribution ({@link attributionDeltaSql}'s rows). */
export const ATTRIBUTION_DELTA_TABLE = 'attribution_delta';

export interface AttributionWindows {
  /** Days before an order in which a click counts (config `attribution.click_days`). */
  click_days: number;
  /** Days before an order in which an open counts, when no click does (config `attribution.open_days`). */
  open_days: number;
}

/**
 * One row per attributed order: transaction_id, customer_id, ordered_at, amount, and the winning
 * touch's event_id, campaign_id, channel, event_type ('clicked' or 'opened') and occurred_at.
 * `orders` has transaction_id, customer_id, ordered_at, amount, is_return; `events` has event_id,
 * customer_id, occurred_at, channel, campaign_id, event_type.
 */
export function attributedOrdersSql(orders: string, events: string, windows: AttributionWindows): string {
  for (const [name, days] of Object.entries(windows)) {
    if (!(Number.isInteger(days) && days >= 0)) throw new RangeError(`attribution: ${name} must be a whole number of days >= 0 (got ${days})`);
  }
  return `WITH touches AS (
  SELECT event_id, customer_id, occurred_at, channel, campaign_id, event_type,
    CASE event_type WHEN 'clicked' THEN 1 ELSE 2 END AS preference
  FROM (${events}) AS e
  WHERE event_type IN ('clicked', 'opened')
),
candidates AS (
  SELECT o.transaction_id, o.customer_id, o.ordered_at, o.amount,
    t.event_id, t.campaign_id, t.channel, t.event_type, t.occurred_at,
    row_number() OVER (PARTITION BY o.transaction_id ORDER BY t.preference, t.occurred_at DESC, t.event_id DESC) AS rank
  FROM (${orders}) AS o
  JOIN touches AS t ON t.customer_id = o.customer_id AND t.occurred_at < o.ordered_at
    AND t.occurred_at >= o.ordered_at - CASE t.preference WHEN 1 THEN INTERVAL '${windows.click_days}' DAY ELSE INTERVAL '${windows.open_days}' DAY END
  WHERE NOT o.is_return
)
SELECT transaction_id, customer_id, ordered_at, amount, event_id, campaign_id, channel, event_type, occurred_at
FROM candidates
WHERE rank = 1`;
}

/**
 * What a night changes in the attribution, per order day, campaign (`unknown` when empty) and
 * channel: attributed_orders and attributed_revenue, signed. `orders` (as for
 * {@link attributedOrdersSql}, with `is_new`) are the orders the night may credit differently: its
 * new orders, and earlier ones a late event of the night could take over. Each counts as attributed
 * with every event (+1), less, if it is not new, as the `earlierEvents` attributed it (−1): an order
 * whose message did not change cancels out, and a day whose figures all cancel has no row.
 */
export function attributionDeltaSql(orders: string, events: string, earlierEvents: string | undefined, windows: AttributionWindows): string {
  const credited = (from: string, sign: number) =>
    `SELECT CAST(ordered_at AS DATE) AS day, coalesce(campaign_id, '${UNKNOWN_CAMPAIGN}') AS campaign_id, channel, ${sign} AS change, amount FROM (${from}) AS a`;
  return `SELECT day, campaign_id, channel, sum(change) AS attributed_orders, sum(change * amount) AS attributed_revenue
FROM (${credited(attributedOrdersSql(orders, events, windows), 1)}
  ${earlierEvents ? `UNION ALL ${credited(attributedOrdersSql(`SELECT * FROM (${orders}) AS o WHERE NOT is_new`, earlierEvents, windows), -1)}` : ''}) AS c
GROUP BY ALL
HAVING sum(change) <> 0 OR sum(change * amount) <> 0`;
}
