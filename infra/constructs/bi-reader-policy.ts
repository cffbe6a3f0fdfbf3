import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { latestViewName } from '../../shared/athena/tables.js';
import type { Table } from '../../shared/catalog.js';
import { acknowledgeObjectWildcards } from '../nag.js';
import type { QueryWorkGroup } from './query-work-group.js';

export interface BiReaderPolicyProps {
  /** The workgroup readers query in (and no other). */
  readonly workGroup: QueryWorkGroup;
  readonly glueDatabase: string;
  /** The Glue tables and views of the database; those of `hidden` tables are left out. */
  readonly tableNames: readonly string[];
  /** The published tables, each a folder under `curatedPrefix`. */
  readonly tables: readonly Table[];
  /**
   * Tables readers are not granted, neither their files nor their Glue table and `_latest` view.
   * @default none
   */
  readonly hidden?: readonly Table[];
  readonly curated: s3.IBucket;
  readonly curatedPrefix: string;
  /** Where the workgroup writes query results, in `curated`. */
  readonly resultsPrefix: string;
}

/**
 * What a BI tool (or the Slack command) needs to query: run queries in one workgroup only, read the
 * database's tables and their files but the hidden ones, and the reports; write query results.
 * A ManagedPolicy itself, so that its logical id stays where it was.
 */
export class BiReaderPolicy extends iam.ManagedPolicy {
  constructor(scope: Construct, id: string, props: BiReaderPolicyProps) {
    const { curated, curatedPrefix, resultsPrefix, hidden = [] } = props;
    // Neither a hidden table nor its `_latest` view is in the readers' catalog.
    const hiddenNames = hidden.flatMap((table) => [table.name, latestViewName(table)]);
    // The tables (but the hidden ones) and reports only: not the staging area, nor the holdout export.
    const folders = [...props.tables.filter((table) => !hidden.includes(table)).map((table) => table.name), 'reports'];
    super(scope, id, {
      description: 'crm-metrics: query the curated tables through the Athena workgroup',
      statements: [
        ...props.workGroup.queryStatements(props.glueDatabase, props.tableNames.filter((name) => !hiddenNames.includes(name))),
        new iam.PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [curated.bucketArn] }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [curated.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${curatedPrefix}*`, `${resultsPrefix}*`] } },
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: folders.map((folder) => curated.arnForObjects(`${curatedPrefix}${folder}/*`)),
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
          resources: [curated.arnForObjects(`${resultsPrefix}*`)],
        }),
      ],
    });
    acknowledgeObjectWildcards(this, "Readers read the tables' objects and write query results, under these prefixes only.", [
      ...folders.map((folder): [s3.IBucket, string] => [curated, `${curatedPrefix}${folder}/*`]),
      [curated, `${resultsPrefix}*`],
    ]);
  }
}
