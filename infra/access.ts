/**
 * What the pipeline's functions may do with the data, each grant scoped to the prefixes it needs
 * (and its cdk-nag wildcard finding acknowledged for exactly those).
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { QueryWorkGroup } from './constructs/query-work-group.js';
import { acknowledgeObjectWildcards } from './nag.js';

/** Where the data is: the buckets and the deploy config's prefixes in them. */
export interface DataLocations {
  readonly raw: s3.IBucket;
  /** Extracts arrive under `<rawPrefix>transactions/`. */
  readonly rawPrefix: string;
  readonly curated: s3.IBucket;
  /** Tables, reports and the staging area are under it. */
  readonly curatedPrefix: string;
}

/** Read the extract prefix, read and write the curated prefix; nothing else in either bucket. */
export function grantRunAccess(fn: lambda.Function, data: DataLocations): void {
  const { raw, curated, curatedPrefix } = data;
  const extracts = `${data.rawPrefix}transactions/`;
  const statements = [
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [raw.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${extracts}*`] } },
    }),
    new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [raw.arnForObjects(`${extracts}*`)] }),
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [curated.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${curatedPrefix}*`] } },
    }),
    new iam.PolicyStatement({
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      resources: [curated.arnForObjects(`${curatedPrefix}*`)],
    }),
  ];
  for (const statement of statements) fn.addToRolePolicy(statement);
  acknowledgeObjectWildcards(fn, 'The run reads extracts and writes tables named by date, under these prefixes only.', [
    [raw, `${extracts}*`],
    [curated, `${curatedPrefix}*`],
  ]);
}

/**
 * A shard function reads the run's state and its shard file and writes the shard's scores, all in
 * the run's staging folder (`stagingPrefix` of the curated bucket): it can neither read the
 * extracts nor touch a published table.
 */
export function grantStagingAccess(fn: lambda.Function, curated: s3.IBucket, stagingPrefix: string): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [curated.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${stagingPrefix}*`] } },
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [curated.arnForObjects(`${stagingPrefix}*`)] }),
  );
  acknowledgeObjectWildcards(fn, "A shard's input, the run's state and the shard's scores are files named by run under this prefix only.", [
    [curated, `${stagingPrefix}*`],
  ]);
}

/** What a function needs to run the history queries on Athena. */
export interface HistoryQueryAccess {
  readonly curated: s3.IBucket;
  readonly workGroup: QueryWorkGroup;
  readonly glueDatabase: string;
  readonly tableNames: readonly string[];
}

/**
 * The history queries on Athena (engine.history athena or auto), which run with the function's
 * own credentials: the pipeline workgroup, the catalog's tables, and S3 as the run already has it
 * (the tables to read, its staging folder to UNLOAD into and for Athena's result files), plus
 * the bucket's location Athena asks for.
 */
export function grantHistoryQueries(fn: lambda.Function, access: HistoryQueryAccess): void {
  for (const statement of access.workGroup.queryStatements(access.glueDatabase, access.tableNames)) fn.addToRolePolicy(statement);
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [access.curated.bucketArn] }));
}
