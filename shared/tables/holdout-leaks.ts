/** Control customers the CRM platform sent messages anyway: the exclusion export was not honoured. */
import { col } from '../catalog.js';
import { dateLiteral } from '../sql/dialect.js';
import { crmEvents } from './crm-events.js';
import { wholeHistory, type TableModel } from './model.js';

export const holdoutLeaks = {
  name: 'holdout_leaks',
  description:
    'Control-group customers who were sent a CRM message since the experiment started (holdout.started_at, else their assignment) up to the run date: one row per customer. Every leak dilutes the holdout\'s estimate towards zero.',
  columns: [
    col('customer_id', 'string', 'Customer in the control group (holdout_assignment).'),
    col('sends', 'bigint', 'Messages sent to the customer ("sent" events).'),
    col('campaigns', 'bigint', 'Distinct campaigns among them.'),
    col('channels', 'string', 'The channels used, comma-separated in alphabetical order.'),
    col('first_sent_at', 'timestamp', 'First such send (UTC).'),
    col('last_sent_at', 'timestamp', 'Latest such send (UTC).'),
  ],
  key: ['customer_id'],
  orderBy: ['customer_id'],
  build: async (ctx) => {
    const events = await wholeHistory(ctx, crmEvents);
    const start = ctx.config.holdout.started_at;
    return `SELECT e.customer_id, count(*) AS sends, count(DISTINCT e.campaign_id) AS campaigns,
        string_agg(DISTINCT e.channel, ',' ORDER BY e.channel) AS channels, min(e.occurred_at) AS first_sent_at, max(e.occurred_at) AS last_sent_at
      FROM (${events}) AS e JOIN (${ctx.assignment}) AS a ON a.customer_id = e.customer_id
      WHERE a.holdout_group = 'control' AND e.event_type = 'sent' AND CAST(e.occurred_at AS DATE) <= ${dateLiteral(ctx.date)}
        AND CAST(e.occurred_at AS DATE) >= ${start ? `greatest(a.assigned_at, ${dateLiteral(start)})` : 'a.assigned_at'}
      GROUP BY e.customer_id`;
  },
} as const satisfies TableModel;
