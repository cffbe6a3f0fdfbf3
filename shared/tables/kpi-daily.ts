/** The CRM KPIs per channel as of the run date, long format. */
import { col } from '../catalog.js';
import { KPI_DEFINITIONS, kpiRows, kpiWideSql } from '../kpi/kpi-sql.js';
import { valuesRelation } from '../sql/dialect.js';
import type { TableModel } from './model.js';

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
  metrics: KPI_DEFINITIONS,
  checks: { accepted: { metric: () => Object.keys(KPI_DEFINITIONS) } },
  facts: (config) => ({ kpi: config.kpi }),
  build: async (ctx): Promise<string> => {
    return valuesRelation(kpiDaily, kpiRows(await ctx.engine.query(kpiWideSql(ctx.customers, ctx.channels, ctx.assignment, ctx.date, ctx.config.kpi))));
  },
} as const satisfies TableModel;
