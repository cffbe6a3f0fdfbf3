/** Moves between segments and grades since the previous run. */
import { col } from '../catalog.js';
import { segmentMigrationSql } from '../rfm/rfm-sql.js';
import { customerScores } from './customer-scores.js';
import { earlierPartition, type TableModel } from './model.js';

export const segmentMigration = {
  name: 'segment_migration',
  description:
    'Customers moving between segments and grades from the previous run to this one: one row per (from, to) pair.',
  columns: [
    col('previous_dt', 'date', 'Run date of the previous scores compared against; NULL on the first run.', true),
    col('from_segment', 'string', 'Segment at the previous run; NULL for customers scored for the first time.', true),
    col('from_grade', 'string', 'Grade at the previous run; NULL for customers scored for the first time.', true),
    col('to_segment', 'string', 'Segment at this run; NULL for customers no longer scored.', true),
    col('to_grade', 'string', 'Grade at this run; NULL for customers no longer scored.', true),
    col('customers', 'bigint', 'Number of customers making this move.'),
  ],
  orderBy: ['from_segment', 'from_grade', 'to_segment', 'to_grade'],
  key: ['from_segment', 'from_grade', 'to_segment', 'to_grade'],
  build: async (ctx) => {
    const previousDate = [...(await ctx.earlier(customerScores)).keys()].sort().pop();
    const relation = previousDate && (await earlierPartition(ctx, customerScores, previousDate));
    return segmentMigrationSql(ctx.rfmScores, relation ? { date: previousDate, relation } : undefined);
  },
} as const satisfies TableModel;
