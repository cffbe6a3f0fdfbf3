/** Held-out customers the CRM platform sent messages anyway: an exclusion export was not honoured. */
import { col } from '../catalog.js';
import { GLOBAL_HOLDOUT } from '../holdout/assign-sql.js';
import { dateLiteral, literal } from '../sql/dialect.js';
import { crmEvents } from './crm-events.js';
import { wholeHistory, type TableModel } from './model.js';

export const holdoutLeaks = {
  name: 'holdout_leaks',
  description:
    'Customers held out who were sent a CRM message anyway since the experiment started (holdout.started_at, else their assignment) up to the run date: the control group sent anything, a channel holdout\'s control sent on that channel. One row per holdout and customer. Every leak dilutes the holdout\'s estimate towards zero.',
  columns: [
    col('holdout', 'string', '"global" (a control-group customer, any channel) or the channel whose holdout (holdout.channels) the treatment customer is in.'),
    col('customer_id', 'string', 'Customer held out (holdout_assignment).'),
    col('sends', 'bigint', 'Messages sent to the customer that the holdout excludes ("sent" events).'),
    col('campaigns', 'bigint', 'Distinct campaigns among them.'),
    col('channels', 'string', 'The channels used, comma-separated in alphabetical order.'),
    col('first_sent_at', 'timestamp', 'First such send (UTC).'),
    col('last_sent_at', 'timestamp', 'Latest such send (UTC).'),
  ],
  key: ['holdout', 'customer_id'],
  orderBy: ['holdout', 'customer_id'],
  build: async (ctx) => {
    const events = await wholeHistory(ctx, crmEvents);
    const start = ctx.config.holdout.started_at;
    // Who is held out of what: the control group out of every channel (channel NULL), a treated
    // customer out of each channel of their channel_controls. Few customers: the join with the
    // sends stays small, and its key is the customer alone.
    const held = `SELECT customer_id, assigned_at, ${literal(GLOBAL_HOLDOUT)} AS holdout, CAST(NULL AS VARCHAR) AS channel FROM (${ctx.assignment}) AS a WHERE holdout_group = 'control'
      UNION ALL
      SELECT customer_id, assigned_at, channel AS holdout, channel FROM (${ctx.assignment}) AS a, unnest(string_split(channel_controls, ',')) AS c(channel)
      WHERE holdout_group = 'treatment' AND channel_controls IS NOT NULL`;
    return `SELECT h.holdout, e.customer_id, count(*) AS sends, count(DISTINCT e.campaign_id) AS campaigns,
        string_agg(DISTINCT e.channel, ',' ORDER BY e.channel) AS channels, min(e.occurred_at) AS first_sent_at, max(e.occurred_at) AS last_sent_at
      FROM (${events}) AS e JOIN (${held}) AS h ON h.customer_id = e.customer_id
      WHERE (h.channel IS NULL OR h.channel = e.channel) AND e.event_type = 'sent' AND CAST(e.occurred_at AS DATE) <= ${dateLiteral(ctx.date)}
        AND CAST(e.occurred_at AS DATE) >= ${start ? `greatest(h.assigned_at, ${dateLiteral(start)})` : 'h.assigned_at'}
      GROUP BY h.holdout, e.customer_id`;
  },
} as const satisfies TableModel;
