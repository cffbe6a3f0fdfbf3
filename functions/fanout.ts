/**
 * The fanned-out night (AWS Step Functions): `start` names an execution after the run date and
 * starts it; `prepare` ingests the day and fits the models, writing one customer-summary file per
 * shard under the run's staging prefix; a Distributed Map runs `scoreShard` once per shard file;
 * `finish` builds every table and publishes. Same pipeline as the single-Lambda night.
 *
 * Payload contract (the state machine in infra/stack.ts relies on it):
 * - start: the scheduler's event or `{ date, force }` → `{ executionArn, name }` (env STATE_MACHINE_ARN)
 * - prepare: `{ date, force }` → {@link PreparedPayload}
 * - scoreShard: `{ key, runId, date }` (key: the shard file's full S3 key, as ListObjectsV2 gives it) → `{ key, customers }`
 * - finish: {@link PreparedPayload} → the run's result
 */
export interface PreparedPayload {
  date: string;
  runId: string;
  /** `prepared`: the Map and `finish` follow; otherwise the execution ends here. */
  status: 'prepared' | 'missing_extract' | 'already_published';
  /** Where the shard files are, in the form the Distributed Map's S3 ItemReader takes. */
  shardListing?: { Bucket: string; Prefix: string };
}

const notYet = async (): Promise<never> => {
  throw new Error('not implemented yet');
};

export const start = notYet;
export const prepare = notYet;
export const scoreShard = notYet;
export const finish = notYet;
