/** The holdout's track record: what the since-start row said each night, for the report's line and band. */
import { col } from '../catalog.js';
import { GLOBAL_HOLDOUT } from '../holdout/assign-sql.js';
import { WATCHED_WINDOW } from '../holdout/results-sql.js';
import { dateLiteral, literal, readParquet } from '../sql/dialect.js';
import { holdoutResults } from './holdout-results.js';
import type { TableModel } from './model.js';

/** The since-start figures each night records, as holdout_results names them. */
const FIGURES = ['n_treatment', 'n_control', 'incremental_revenue', 'ci_low', 'ci_high', 'seq_ci_low', 'seq_ci_high', 'seq_p_value', 'incremental_value', 'value_ci_low', 'value_ci_high', 'verdict'] as const;

export const holdoutDaily = {
  name: 'holdout_daily',
  description:
    'One row per night since the holdout started (holdout.started_at, when set): the global holdout\'s since_start row for all customers as that night published it, so that the cumulative estimate and both intervals can be followed night by night. Each run adds its own night to the previous run\'s rows (and the nights of earlier runs without them).',
  columns: [
    col('night', 'date', 'Run date whose holdout_results row this is.'),
    col('n_treatment', 'bigint', 'Treatment customers known that night.'),
    col('n_control', 'bigint', 'Control customers known that night.'),
    col('incremental_revenue', 'double', 'Cumulative incremental revenue since the start.', true),
    col('ci_low', 'double', 'Fixed-horizon 95 % CI (valid for one look only).', true),
    col('ci_high', 'double', 'Upper end of that CI.', true),
    col('seq_ci_low', 'double', '95 % confidence sequence: valid for every night at once.', true),
    col('seq_ci_high', 'double', 'Upper end of that interval.', true),
    col('seq_p_value', 'double', 'Always-valid p-value.', true),
    col('incremental_value', 'double', 'Cumulative incremental value (margin × revenue + customer equity).', true),
    col('value_ci_low', 'double', '95 % CI of incremental_value.', true),
    col('value_ci_high', 'double', 'Upper end of that CI.', true),
    col('verdict', 'string', 'The verdict that night (judged by the sequence).'),
  ],
  key: ['night'],
  orderBy: ['night'],
  build: async (ctx): Promise<string> => {
    const start = ctx.config.holdout.started_at;
    const nightRow = (relation: string, night: string, has: (figure: string) => boolean = () => true) =>
      `SELECT ${dateLiteral(night)} AS night, ${FIGURES.map((f) => (has(f) ? f : `NULL AS ${f}`)).join(', ')}
        FROM (${relation}) AS r WHERE "window" = ${literal(WATCHED_WINDOW)} AND segment = 'ALL'${has('holdout') ? ` AND holdout = ${literal(GLOBAL_HOLDOUT)}` : ''}`;
    // A night published before a figure existed has it as NULL (and only the global holdout's rows, before channels had theirs).
    const earlierNight = async (night: string) => {
      const file = await ctx.fetch(holdoutResults, night);
      const columns = new Set((await ctx.engine.query<{ name: string }>(`SELECT name FROM parquet_schema(${literal(file)})`)).map((c) => c.name));
      return nightRow(`SELECT * FROM ${readParquet([file])}`, night, (f) => columns.has(f));
    };
    // The previous run's rows, then the nights after them from their own holdout_results.
    const previous = [...(await ctx.earlier(holdoutDaily)).keys()].sort().at(-1);
    const nights = [...(await ctx.earlier(holdoutResults)).keys()].filter((night) => previous === undefined || night > previous).sort();
    const parts = [
      ...(previous ? [`SELECT night, ${FIGURES.join(', ')} FROM ${readParquet([await ctx.fetch(holdoutDaily, previous)])}`] : []),
      ...(await Promise.all(nights.map(earlierNight))),
      nightRow(ctx.written(holdoutResults), ctx.date),
    ];
    return `SELECT * FROM (${parts.join('\nUNION ALL\n')}) AS d${start ? ` WHERE night >= ${dateLiteral(start)}` : ''}`;
  },
} as const satisfies TableModel;
