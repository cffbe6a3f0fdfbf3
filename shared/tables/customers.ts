/** The customers as the CRM platform knows them now: each one's latest profile. */
import { customerProfiles } from './customer-profiles.js';
import { wholeHistory, type TableModel } from './model.js';

export const customers = {
  name: 'customers',
  description:
    "The current profile of every customer the CRM platform delivered: the latest version (by updated_at) among all of customer_profiles' partitions up to the run date.",
  columns: customerProfiles.columns.filter((c) => c.name !== 'source_file'),
  key: ['customer_id'],
  orderBy: ['customer_id'],
  build: async (ctx) => {
    const versions = await wholeHistory(ctx, customerProfiles);
    return `SELECT * FROM (${versions}) AS v QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) = 1`;
  },
} as const satisfies TableModel;
