/** The 95/5 holdout's groups, one row per customer. */
import { col } from '../catalog.js';
import type { TableModel } from './model.js';

export const HOLDOUT_GROUPS = ['treatment', 'control'] as const;

export const holdoutAssignment = {
  name: 'holdout_assignment',
  description:
    'The 95/5 holdout: one row per customer in the history with its group, from a salted GrowthBook-compatible hash (sticky until the salt changes).',
  columns: [
    col('customer_id', 'string', 'Customer id.'),
    col('holdout_group', 'string', '"control" (receives no CRM communication) or "treatment".'),
    col('salt', 'string', 'Salt of the hash (holdout.salt); a new salt starts a new experiment.'),
    col('hash_version', 'int', "GrowthBook hash version (2: fnv32a(str(fnv32a(salt + id))) % 10000 / 10000; control when below holdout.control_share)."),
    col('assigned_at', 'date', 'Date of the customer\'s first order in the history: when they entered the experiment.'),
    col('channel_controls', 'string', 'The channels whose nested holdout (holdout.channels, own salt) the customer\'s hash falls in, comma-separated in alphabetical order; NULL for none. It holds a treatment customer out of those channels only (exports control-<channel>.csv); computed for everyone, so a channel\'s control is its share of every group and segment.', true),
  ],
  orderBy: ['customer_id'],
  key: ['customer_id'],
  checks: { accepted: { holdout_group: () => HOLDOUT_GROUPS } },
  build: (ctx) => ctx.assignment,
} as const satisfies TableModel;
