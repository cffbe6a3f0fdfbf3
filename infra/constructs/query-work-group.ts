import { Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

export interface QueryWorkGroupProps {
  /** The workgroup's name, which clients name it by. */
  readonly name: string;
  readonly description: string;
  /** A query scanning more GB is cancelled: a runaway query costs at most this much. */
  readonly bytesScannedCutoffGb: number;
  /** Where Athena writes query results (`s3://bucket/prefix/`), encrypted with SSE-S3. */
  readonly resultsLocation: string;
}

/**
 * An Athena workgroup whose settings clients cannot override: result location, SSE-S3, the scan
 * limit, engine version 3. A CfnWorkGroup itself, so that its logical id is its construct id.
 */
export class QueryWorkGroup extends athena.CfnWorkGroup {
  constructor(scope: Construct, id: string, props: QueryWorkGroupProps) {
    super(scope, id, {
      name: props.name,
      description: props.description,
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: Math.round(props.bytesScannedCutoffGb * 1024 ** 3),
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: { outputLocation: props.resultsLocation, encryptionConfiguration: { encryptionOption: 'SSE_S3' } },
      },
    });
  }

  /**
   * Run queries in this workgroup, and read these tables and views of a Glue database (each by
   * name: a table added to the database later is not readable until it is named here).
   */
  queryStatements(database: string, tableNames: readonly string[]): iam.PolicyStatement[] {
    const stack = Stack.of(this);
    const glueArn = (resource: string) => stack.formatArn({ service: 'glue', resource, resourceName: undefined });
    return [
      new iam.PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
        resources: [stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.name })],
      }),
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
        resources: [glueArn('catalog'), glueArn(`database/${database}`), ...tableNames.map((name) => glueArn(`table/${database}/${name}`))],
      }),
    ];
  }
}
