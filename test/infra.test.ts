/**
 * The CDK app, synthesized for real (esbuild bundling included) with cdk-nag's AWS Solutions pack:
 * the template's schedule, function, buckets, Glue tables, IAM and alarms, and the bundle itself
 * running the pipeline from a copy outside the project; then again with the fanned-out night
 * (`orchestration: "step-functions"`): its state machine, functions, IAM and bundle.
 */
import { execFile } from 'node:child_process';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TrinoSQL } from 'dt-sql-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { COLUMN_TYPES, PARTITION_COLUMN, type Table } from '../shared/catalog.js';
import { TABLES } from '../shared/tables/index.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { REPLAY_EXPIRY_ATTRIBUTE, REPLAY_KEY_ATTRIBUTE } from '../shared/slack/replay.js';
import { buildApp } from '../infra/app.js';
import { parseDeployConfig } from '../infra/config.js';
import { CSV_HEADER, tempDir, writeExtract } from './helpers.js';

const run = promisify(execFile);

const PIPELINE = { input: { columns: { customer_id: 'CustomerID' } }, holdout: { salt: 'crm-2026' } };
const DEPLOY = {
  schedule: { hour: 3, minute: 15, timezone: 'Europe/Berlin' },
  athena: { bytesScannedCutoffGb: 5, pipelineBytesScannedCutoffGb: 300 },
  pipeline: PIPELINE,
};
let template: Template;
let outdir: string;

/** Synthesizes the app (cdk-nag included: any unacknowledged finding makes it throw) from a deploy config. */
async function synthesize(label: string, config: unknown): Promise<{ template: Template; outdir: string }> {
  const dir = await tempDir(label);
  const configFile = join(dir, 'deploy.json');
  await writeFile(configFile, JSON.stringify(config));
  const { app, stack } = buildApp(new App({ outdir: dir, context: { config: configFile } }));
  app.synth();
  return { template: Template.fromStack(stack), outdir: dir };
}

beforeAll(async () => {
  ({ template, outdir } = await synthesize('cdk-out', DEPLOY));
}, 120_000);

/** A Glue TableInput as CloudFormation holds it (PascalCase); only the fields the tests read. */
interface TableInput {
  Name: string;
  TableType: string;
  Parameters: Record<string, unknown>;
  PartitionKeys: unknown[];
  StorageDescriptor: { Columns: { Name: string; Type: string }[]; SerdeInfo: { SerializationLibrary?: string } };
  ViewOriginalText: string;
}

const resources = (type: string) => Object.values(template.findResources(type)) as { Properties: Record<string, unknown> }[];

/**
 * A CloudFormation value as the text it deploys to: `Fn::Join` joined, references as placeholders
 * (`<Logical>`, `<Logical.Attr>`, a field of a split value as `<split(value,separator)[index]>`, any
 * other function as `<Fn::…>`), the partition as `aws`.
 */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const intrinsic = value as Record<string, unknown>;
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  if ('Ref' in intrinsic) return intrinsic['Ref'] === 'AWS::Partition' ? 'aws' : `<${String(intrinsic['Ref'])}>`;
  if ('Fn::GetAtt' in intrinsic) return `<${(intrinsic['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Fn::Select' in intrinsic) {
    const [index, list] = intrinsic['Fn::Select'] as [number, Record<string, unknown>];
    if ('Fn::Split' in list) {
      const [separator, source] = list['Fn::Split'] as [string, unknown];
      return `<split(${render(source)},${separator})[${index}]>`;
    }
  }
  return `<${Object.keys(intrinsic)[0]}>`;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** A statement with its actions and resources as lists of rendered text. */
const rendered = (s: Statement) => ({
  effect: s.Effect,
  actions: [s.Action].flat(),
  resources: [s.Resource].flat().map(render),
  ...(s.Condition ? { condition: s.Condition } : {}),
});

/** Every policy document of the template: inline policies and managed policies. */
const policyDocuments = (t: Template) =>
  [...Object.values(t.findResources('AWS::IAM::Policy')), ...Object.values(t.findResources('AWS::IAM::ManagedPolicy'))].map(
    (p) => p['Properties']['PolicyDocument'] as { Statement: Statement[] },
  );

/** The logical id of the one function whose handler is `handler` (`index.<export>`). */
function functionId(t: Template, handler: string): string {
  const ids = Object.entries(t.findResources('AWS::Lambda::Function', { Properties: { Handler: handler } })).map(([id]) => id);
  expect(ids, handler).toHaveLength(1);
  return ids[0]!;
}

/** The logical id of the function whose construct id is `name` (handler names are shared: index.handler). */
function constructFunctionId(t: Template, name: string): string {
  const ids = Object.keys(t.findResources('AWS::Lambda::Function')).filter((id) => new RegExp(`^${name}[0-9A-F]{8}$`).test(id));
  expect(ids, name).toHaveLength(1);
  return ids[0]!;
}

const nightlyId = (t: Template) => constructFunctionId(t, 'Nightly');

/** The statements of the inline policies attached to a function's role, rendered. */
function roleStatements(t: Template, fnId: string) {
  const roleId = (t.findResources('AWS::Lambda::Function')[fnId]!['Properties']['Role'] as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => (p['Properties']['Roles'] as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p['Properties']['PolicyDocument'] as { Statement: Statement[] }).Statement)
    .map(rendered);
}

/** The logical id of the bucket whose construct id is `name` (AccessLogs, Raw, Curated). */
function bucketId(t: Template, name: string): string {
  const ids = Object.keys(t.findResources('AWS::S3::Bucket')).filter((id) => new RegExp(`^${name}[0-9A-F]{8}$`).test(id));
  expect(ids, name).toHaveLength(1);
  return ids[0]!;
}

/** No S3, Glue or Athena action on every resource, nor on every table of the database. */
function expectNoDataWildcards(t: Template): Statement[] {
  const scoped = policyDocuments(t)
    .flatMap((d) => d.Statement)
    .filter((s) => [s.Action].flat().some((a) => /^(s3|glue|athena):/.test(a)));
  for (const statement of scoped) {
    expect([statement.Resource].flat(), JSON.stringify(statement)).not.toContain('*');
    expect(JSON.stringify(statement.Resource)).not.toMatch(/table\/crm_metrics\/\*/);
  }
  return scoped;
}

/** The S3 statements of the single-function night, for the buckets of `t`. */
function runAccess(t: Template) {
  const raw = `<${bucketId(t, 'Raw')}.Arn>`;
  const curated = `<${bucketId(t, 'Curated')}.Arn>`;
  return [
    { effect: 'Allow', actions: ['s3:ListBucket'], resources: [raw], condition: { StringLike: { 's3:prefix': ['raw/transactions/*'] } } },
    { effect: 'Allow', actions: ['s3:GetObject'], resources: [`${raw}/raw/transactions/*`] },
    { effect: 'Allow', actions: ['s3:ListBucket'], resources: [curated], condition: { StringLike: { 's3:prefix': ['curated/*'] } } },
    { effect: 'Allow', actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [`${curated}/curated/*`] },
    // Athena, running the history queries with the function's credentials, asks where the bucket is.
    { effect: 'Allow', actions: ['s3:GetBucketLocation'], resources: [curated] },
  ];
}

const arn = (service: string, resource: string) => `arn:aws:${service}:<AWS::Region>:<AWS::AccountId>:${resource}`;

/**
 * The Glue resources a query may read: the catalog, the database, each table and view by name (as
 * the template defines them), but those in `hidden`.
 */
/** The Glue tables of the template but `hidden`. */
const glueTables = (t: Template, hidden: readonly string[] = []) =>
  Object.values(t.findResources('AWS::Glue::Table'))
    .map((r) => (r['Properties']['TableInput'] as TableInput).Name)
    .filter((name) => !hidden.includes(name));

function glueResources(tables: readonly string[]): string[] {
  return [arn('glue', 'catalog'), arn('glue', 'database/crm_metrics'), ...tables.map((name) => arn('glue', `table/crm_metrics/${name}`))].sort();
}

/** The Athena and Glue statements among `statements`: exactly one of each, the Athena one on `workGroup`, Glue on `tables`. */
function expectQueryAccess(statements: ReturnType<typeof rendered>[], workGroup: string, tables: readonly string[]): void {
  const athena = statements.filter((s) => s.actions.some((a) => a.startsWith('athena:')));
  expect(athena).toHaveLength(1);
  expect(athena[0]!.resources).toEqual([arn('athena', `workgroup/${workGroup}`)]);
  expect(athena[0]!.actions).toEqual(expect.arrayContaining(['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution']));
  const glue = statements.filter((s) => s.actions.some((a) => a.startsWith('glue:')));
  expect(glue).toHaveLength(1);
  expect(glue[0]!.actions.every((a) => /^glue:Get/.test(a))).toBe(true);
  expect(glue[0]!.resources.sort()).toEqual(glueResources(tables));
}

const s3Statements = (statements: ReturnType<typeof rendered>[]) => statements.filter((s) => s.actions.some((a) => a.startsWith('s3:')));

/** The statements of the BI reader managed policy (the stack's only managed policy), rendered. */
function biReaderStatements(t: Template) {
  const policies = Object.entries(t.findResources('AWS::IAM::ManagedPolicy'));
  expect(policies.map(([id]) => id)).toEqual([expect.stringMatching(/^BiReader/)]);
  return (policies[0]![1]['Properties']['PolicyDocument'] as { Statement: Statement[] }).Statement.map(rendered);
}

/** Whether an S3 object resource (`<Bucket.Arn>/pattern`, IAM wildcards `*` and `?`) covers a key of `bucket`. */
function coversObject(resource: string, bucket: string, key: string): boolean {
  const prefix = `${bucket}/`;
  if (!resource.startsWith(prefix)) return false;
  const pattern = resource.slice(prefix.length).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`).test(key);
}

/**
 * The logical id and type of every resource, compared with those recorded from the stack before it
 * was split into constructs (test/fixtures/infra-logical-ids.json). A changed logical id replaces
 * the resource on deploy: a bucket starts empty, the Slack secret loses its value, a named Glue
 * table, workgroup or log group fails to be created again under its name. A change that means to
 * change them records anew and says so in its commit: `RECORD_LOGICAL_IDS=1 npx vitest run test/infra.test.ts`.
 */
async function expectLogicalIds(t: Template, orchestration: 'lambda' | 'step-functions'): Promise<void> {
  const recorded = new URL('./fixtures/infra-logical-ids.json', import.meta.url);
  const resources = t.toJSON()['Resources'] as Record<string, { Type: string }>;
  const ids = Object.fromEntries(Object.keys(resources).sort().map((id) => [id, resources[id]!.Type]));
  if (process.env['RECORD_LOGICAL_IDS']) {
    const all = await readFile(recorded, 'utf8').then((text) => JSON.parse(text) as Record<string, unknown>, () => ({}));
    await writeFile(recorded, `${JSON.stringify({ ...all, [orchestration]: ids }, null, 2)}\n`);
  }
  expect(ids).toEqual(JSON.parse(await readFile(recorded, 'utf8'))[orchestration]);
}

describe('CDK stack', () => {
  it('keeps the logical id of every resource (buckets, Glue tables, workgroups and the rest)', async () => {
    await expectLogicalIds(template, 'lambda');
  });

  it('schedules the nightly run in the configured time zone, passing the scheduled time', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(15 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'ENABLED',
      Target: Match.objectLike({
        Input: JSON.stringify({ time: '<aws.scheduler.scheduled-time>', timezone: 'Europe/Berlin' }),
        DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }),
      }),
    });
  });

  it('sizes the function from the benchmark and runs one invocation at a time', () => {
    const [nightly] = resources('AWS::Lambda::Function').filter((f) => f.Properties['Handler'] === 'index.handler');
    expect(nightly!.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      MemorySize: 6144,
      Timeout: 900,
      EphemeralStorage: { Size: 10240 },
      ReservedConcurrentExecutions: 1,
    });
    const variables = (nightly!.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
    expect(JSON.parse(String(variables['CONFIG_JSON']))).toEqual(PIPELINE);
    expect(variables['ENGINE_MEMORY_LIMIT']).toBe(`${Math.floor(6144 * 0.6)}MB`);
    expect(JSON.stringify(variables['SOURCE_URI'])).toContain('/raw/');
    expect(JSON.stringify(variables['DEST_URI'])).toContain('/curated/');
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('keeps every bucket private, encrypted and TLS-only, with lifecycle for staging, rejects and query results', () => {
    const buckets = resources('AWS::S3::Bucket');
    expect(buckets).toHaveLength(3);
    for (const bucket of buckets) {
      expect(bucket.Properties['PublicAccessBlockConfiguration']).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(JSON.stringify(bucket.Properties['BucketEncryption'])).toContain('AES256');
    }
    const policies = resources('AWS::S3::BucketPolicy');
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      const statements = (policy.Properties['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    const prefixes = buckets.flatMap((b) => ((b.Properties['LifecycleConfiguration'] as { Rules: { Prefix?: string }[] } | undefined)?.Rules ?? []).map((r) => r.Prefix));
    expect(prefixes).toEqual(expect.arrayContaining(['curated/_staging/', 'curated/rejects/', 'athena-results/']));
  });

  it('defines a Glue table per catalog table with exactly its columns, partitioned by dt with projection', () => {
    const tables = resources('AWS::Glue::Table').map((t) => t.Properties['TableInput'] as TableInput);
    for (const table of TABLES as readonly Table[]) {
      const glue = tables.find((t) => t['Name'] === table.name);
      expect(glue, table.name).toBeDefined();
      expect(glue!['StorageDescriptor'].Columns.map((c) => [c.Name, c.Type])).toEqual(
        table.columns.map((c) => [c.name, COLUMN_TYPES[c.type].glue]),
      );
      expect(glue!['PartitionKeys']).toEqual([expect.objectContaining({ Name: 'dt', Type: 'date' })]);
      expect(glue!['StorageDescriptor'].SerdeInfo.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
      expect(glue!['Parameters']).toMatchObject({ 'projection.enabled': 'true', 'projection.dt.type': 'date', 'projection.dt.format': 'yyyy-MM-dd' });
      // The location template names the same folder the pipeline publishes to.
      expect(JSON.stringify(glue!['Parameters']['storage.location.template'])).toContain(`/curated/${table.name}/dt=\${dt}/`);
    }
  });

  it('defines a _latest view per snapshot table whose SQL parses as Trino and whose columns match the table', () => {
    const views = resources('AWS::Glue::Table')
      .map((t) => t.Properties['TableInput'] as TableInput)
      .filter((t) => t['TableType'] === 'VIRTUAL_VIEW');
    const snapshots = (TABLES as readonly Table[]).filter((t) => !t.history);
    expect(views.map((v) => v['Name']).sort()).toEqual(snapshots.map((t) => `${t.name}_latest`).sort());
    const trino = new TrinoSQL();
    for (const table of snapshots) {
      const view = views.find((v) => v['Name'] === `${table.name}_latest`)!;
      const encoded = /^\/\* Presto View: (.+) \*\/$/.exec(view['ViewOriginalText'])![1]!;
      const definition = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
      expect(trino.validate(definition.originalSql)).toEqual([]);
      expect(definition.originalSql).toContain(`"crm_metrics"."${table.name}"`);
      expect(definition.columns).toEqual([...table.columns, PARTITION_COLUMN].map((c) => ({ name: c.name, type: COLUMN_TYPES[c.type].trino })));
    }
  });

  it("limits the BI workgroup and the pipeline's own, each with its scan cutoff and encrypted results", () => {
    template.resourceCountIs('AWS::Athena::WorkGroup', 2);
    const curated = { Ref: bucketId(template, 'Curated') };
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'crm-metrics',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 5 * 1024 ** 3,
        ResultConfiguration: { OutputLocation: { 'Fn::Join': ['', ['s3://', curated, '/athena-results/']] }, EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
      }),
    });
    // The history queries: a larger cutoff, Athena's result files in the staging area (expired with it).
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'crm-metrics-pipeline',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 300 * 1024 ** 3,
        ResultConfiguration: {
          OutputLocation: { 'Fn::Join': ['', ['s3://', curated, '/curated/_staging/athena-results/']] },
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
        },
      }),
    });
  });

  it('gives the nightly function the pipeline workgroup and the Glue database for its history queries', () => {
    const environment = (template.findResources('AWS::Lambda::Function')[nightlyId(template)]!['Properties']['Environment'] as { Variables: Record<string, unknown> }).Variables;
    expect(environment).toMatchObject({ ATHENA_WORKGROUP: 'crm-metrics-pipeline', GLUE_DATABASE: 'crm_metrics' });
    // Glue: only the tables its history queries read.
    expectQueryAccess(roleStatements(template, nightlyId(template)), 'crm-metrics-pipeline', ['transactions', 'transactions_staged']);
  });

  it('never grants S3, Glue or Athena actions on every resource', () => {
    const scoped = expectNoDataWildcards(template);
    expect(scoped.length).toBeGreaterThan(5);
    // BI readers read the tables and reports, not the staging area or the holdout export.
    const biReads = JSON.stringify(scoped.filter((st) => st.Action === 's3:GetObject'));
    expect(biReads).toContain('/curated/customer_scores/*');
    expect(biReads).toContain('/curated/reports/*');
    expect(biReads).not.toMatch(/curated\/(_staging|exports)/);
    // The nightly role reads extracts only under the extract prefix.
    const nightlyReads = scoped.find((s) => s.Action === 's3:GetObject' && JSON.stringify(s.Resource).includes('raw/transactions/*'));
    expect(nightlyReads).toBeDefined();
  });

  it('scopes query access to the workgroup, the Glue database and its tables, and reading to the published prefixes', () => {
    const statements = biReaderStatements(template);
    // Every table and view but the rejects (see the test on rejects below).
    expectQueryAccess(statements, 'crm-metrics', glueTables(template, ['rejects', 'rejects_latest']));
    // Listing the curated bucket only under the tables' and the query results' prefixes.
    const curated = `<${bucketId(template, 'Curated')}.Arn>`;
    expect(statements).toContainEqual({
      effect: 'Allow',
      actions: ['s3:ListBucket'],
      resources: [curated],
      condition: { StringLike: { 's3:prefix': ['curated/*', 'athena-results/*'] } },
    });
    expect(statements).toContainEqual(expect.objectContaining({ resources: [`${curated}/athena-results/*`] }));
    // The nightly function: the extract prefix and the curated prefix, nothing else of either bucket.
    expect(s3Statements(roleStatements(template, nightlyId(template)))).toEqual(runAccess(template));
  });

  it('runs the night in the one function: no state machine, and the schedule invokes the nightly function', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    expect(resources('AWS::Lambda::Function').map((f) => f.Properties['Handler'])).not.toContain('index.start');
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [nightlyId(template), 'Arn'] } }),
    });
  });

  it('alarms on errors, a run near its timeout, and no successful run in 26 hours', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: NIGHTLY_METRICS.namespace,
      MetricName: NIGHTLY_METRICS.succeeded,
      Dimensions: [{ Name: 'service', Value: NIGHTLY_METRICS.service }],
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Threshold: 900_000 * 0.8 });
  });

  it('serves /crm from a public function URL whose secret stays in Secrets Manager', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE' });
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    const functions = resources('AWS::Lambda::Function');
    const endpoint = functions.find((f) => JSON.stringify(f.Properties['Environment'] ?? {}).includes('SLACK_SECRET_ARN'))!;
    const variables = (endpoint.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
    // The ARN (a reference), never a secret value, is in the environment.
    expect(variables['SLACK_SECRET_ARN']).toEqual({ Ref: expect.stringMatching(/^SlackSecret/) });
    expect(Object.keys(variables).sort()).toEqual(['REPLAY_TABLE', 'SLACK_ACCESS_JSON', 'SLACK_SECRET_ARN', 'WORKER_FUNCTION']);
    expect(endpoint.Properties['Timeout']).toBeLessThanOrEqual(10);
    const workerId = constructFunctionId(template, 'SlackWorker');
    const worker = template.findResources('AWS::Lambda::Function')[workerId]!['Properties'];
    expect(worker['Timeout']).toBe(900);
    expect(worker['Environment']['Variables']).toMatchObject({ ATHENA_WORKGROUP: 'crm-metrics' });
    expect(worker['Environment']['Variables']['STATE_MACHINE_ARN']).toBeUndefined();
    // The worker queries through the BI reader policy and may invoke the nightly function.
    const roles = template.findResources('AWS::IAM::Role');
    const workerRole = roles[(worker['Role'] as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]]!;
    expect(JSON.stringify(workerRole['Properties']['ManagedPolicyArns'])).toContain('BiReader');
    const invoked = roleStatements(template, workerId).filter((st) => st.actions.includes('lambda:InvokeFunction'));
    expect(invoked.flatMap((st) => st.resources)).toEqual([`<${nightlyId(template)}.Arn>`, `<${nightlyId(template)}.Arn>:*`]);
  });

  it('remembers /crm requests in a DynamoDB table with a TTL, which the endpoint may only PutItem into', () => {
    const tables = Object.entries(template.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(1);
    const [tableId, table] = tables[0]!;
    expect(table['Properties']).toMatchObject({
      // The key and TTL attributes the endpoint writes (shared/slack/replay.ts).
      KeySchema: [{ AttributeName: REPLAY_KEY_ATTRIBUTE, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: REPLAY_KEY_ATTRIBUTE, AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: REPLAY_EXPIRY_ATTRIBUTE, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    });
    const endpointId = constructFunctionId(template, 'SlackCommand');
    const endpoint = template.findResources('AWS::Lambda::Function')[endpointId]!['Properties'];
    expect(endpoint['Environment']['Variables']['REPLAY_TABLE']).toEqual({ Ref: tableId });
    const dynamo = policyDocuments(template)
      .flatMap((d) => d.Statement)
      .filter((st) => [st.Action].flat().some((a) => a.startsWith('dynamodb:')))
      .map(rendered);
    expect(dynamo).toEqual([{ effect: 'Allow', actions: ['dynamodb:PutItem'], resources: [`<${tableId}.Arn>`] }]);
    expect(roleStatements(template, endpointId)).toContainEqual(dynamo[0]);
  });

  it('caps the public /crm endpoint with a reserved concurrency', () => {
    const endpoint = template.findResources('AWS::Lambda::Function')[constructFunctionId(template, 'SlackCommand')]!['Properties'];
    expect(endpoint['ReservedConcurrentExecutions']).toBe(5);
  });

  it('the BI reader policy reads every published table but rejects (raw input lines can hold personal data)', () => {
    const curated = `<${bucketId(template, 'Curated')}.Arn>`;
    const objects = s3Statements(biReaderStatements(template)).flatMap((st) => st.resources.filter((r) => r.startsWith(`${curated}/`)));
    const key = (table: string) => `curated/${table}/dt=2024-03-21/part-0.parquet`;
    expect(objects.filter((r) => coversObject(r, curated, key('rejects')))).toEqual([]);
    for (const table of (TABLES as readonly Table[]).filter((t) => t.name !== 'rejects')) {
      expect(objects.some((r) => coversObject(r, curated, key(table.name))), table.name).toBe(true);
    }
    // The matcher itself: the grant that was there before covers a rejects file.
    expect(coversObject(`${curated}/curated/rejects/*`, curated, key('rejects'))).toBe(true);
    expect(coversObject(`${curated}/curated/*`, curated, key('rejects'))).toBe(true);
  });

  it('cdk-nag fails synthesis on an unacknowledged finding (so the clean synth above means something)', () => {
    const app = new App({ outdir: join(outdir, 'nag') });
    const stack = new Stack(app, 'Careless');
    new s3.Bucket(stack, 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow();
  });

  it('bundles a handler that runs the pipeline from a copy outside the project', async () => {
    const assets = (await readdir(outdir)).filter((name) => name.startsWith('asset.') && !name.endsWith('.json'));
    // The nightly function's asset is the one carrying the native engine beside its bundle.
    const withEngine = await Promise.all(assets.map((a) => readdir(join(outdir, a, 'node_modules')).then(() => true, () => false)));
    expect(withEngine.filter(Boolean)).toHaveLength(1);
    const asset = assets[withEngine.indexOf(true)];
    const bundle = await tempDir('bundle');
    await cp(join(outdir, asset!), bundle, { recursive: true });
    const source = await tempDir('bundle-src');
    await writeExtract(source, '2024-04-01', 'a.csv', [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,10.00,1,online,EUR,false'].join('\n'));
    const script = `const { handler } = await import(${JSON.stringify(join(bundle, 'index.mjs'))});
      const result = await handler({ date: '2024-04-01' }, {});
      process.stderr.write(JSON.stringify(result));`;
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: bundle,
      env: { PATH: process.env['PATH'], SOURCE_URI: source, DEST_URI: join(source, 'out'), HOME: bundle },
    });
    expect(JSON.parse(stderr.slice(stderr.lastIndexOf('{"runId"')))).toMatchObject({ status: 'succeeded', rowsAccepted: 1, customersScored: 1 });
  }, 60_000);

  it('names the bad key of a deploy config', () => {
    expect(() => parseDeployConfig({ schedule: { timezone: 'Mars/Olympus' } })).toThrow(/schedule\.timezone/);
    expect(() => parseDeployConfig({ lambda: { memoryMb: 20000 } })).toThrow(/lambda\.memoryMb/);
    expect(() => parseDeployConfig({ pipeline: { holdout: { control_share: 2 } } })).toThrow(/pipeline\.holdout\.control_share/);
    expect(() => parseDeployConfig({ orchestration: 'airflow' })).toThrow(/orchestration/);
    expect(() => parseDeployConfig({ fanout: { maxConcurrency: 0 } })).toThrow(/fanout\.maxConcurrency/);
    expect(() => parseDeployConfig({ fanout: { shardMemoryMb: 64 } })).toThrow(/fanout\.shardMemoryMb/);
    expect(() => parseDeployConfig({ fanout: { maxConcurency: 10 } })).toThrow(/fanout/);
    expect(parseDeployConfig({})).toMatchObject({ orchestration: 'lambda', fanout: { maxConcurrency: 50, timeoutHours: 2 } });
  });
});


/** A state of the Amazon States Language, with the fields the tests read. */
interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Variable: string; StringEquals: string; Next: string }[];
  Retry?: { ErrorEquals: string[]; MaxAttempts: number }[];
  Catch?: { ErrorEquals: string[]; ResultPath: string; Next: string }[];
  [field: string]: unknown;
}
interface Definition {
  StartAt: string;
  States: Record<string, State>;
  TimeoutSeconds?: number;
}

describe('CDK stack with orchestration "step-functions" (the fanned-out night)', () => {
  let fanned: Template;
  let fannedOut: string;
  let stateMachineId: string;
  let definition: Definition;
  const ids = { start: '', prepare: '', score: '', finish: '' };
  const fnArn = (id: string) => `<${id}.Arn>`;

  beforeAll(async () => {
    ({ template: fanned, outdir: fannedOut } = await synthesize('cdk-fanout', {
      ...DEPLOY,
      orchestration: 'step-functions',
      fanout: { maxConcurrency: 7, shardMemoryMb: 3072, timeoutHours: 3 },
    }));
    const machines = Object.entries(fanned.findResources('AWS::StepFunctions::StateMachine'));
    expect(machines).toHaveLength(1);
    const [id, machine] = machines[0]!;
    stateMachineId = id;
    // The definition is a Fn::Join of JSON text and the functions' ARNs: joined with placeholders, it parses.
    definition = JSON.parse(render(machine['Properties']['DefinitionString'])) as Definition;
    ids.start = constructFunctionId(fanned, 'FanOutStart');
    ids.prepare = functionId(fanned, 'index.prepare');
    ids.score = functionId(fanned, 'index.scoreShard');
    ids.finish = functionId(fanned, 'index.finish');
  }, 180_000);

  it('keeps the logical id of every resource of the fanned-out night', async () => {
    await expectLogicalIds(fanned, 'step-functions');
  });

  it('prepares, chooses on the status, scores the shards in a Distributed Map over the staged files, then finishes', () => {
    const states = definition.States;
    expect(definition.StartAt).toBe('Prepare');
    expect(definition.TimeoutSeconds).toBe(3 * 3600);
    expect(states['Prepare']).toMatchObject({ Type: 'Task', Resource: fnArn(ids.prepare) });
    // Not prepared (no extract, already published): the execution succeeds without scoring.
    const choice = states[states['Prepare']!.Next!]!;
    expect(choice.Type).toBe('Choice');
    expect(choice.Choices).toHaveLength(1);
    const [prepared] = choice.Choices!;
    expect(prepared).toMatchObject({ Variable: '$.status', StringEquals: 'prepared' });
    expect(states[choice.Default!]!.Type).toBe('Succeed');

    const map = states[prepared!.Next]!;
    expect(map.Type).toBe('Map');
    expect(map['ItemProcessor']).toMatchObject({ ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } });
    // The shard files Prepare staged, listed from the bucket and prefix of its payload.
    expect(map['ItemReader']).toEqual({
      Resource: 'arn:aws:states:::s3:listObjectsV2',
      Parameters: { 'Bucket.$': '$.shardListing.Bucket', 'Prefix.$': '$.shardListing.Prefix' },
    });
    expect(map['ItemSelector']).toEqual({ 'key.$': '$$.Map.Item.Value.Key' });
    expect(map['MaxConcurrency']).toBe(7);
    // No failed shard is tolerated (absent: the Step Functions default of 0).
    for (const field of ['ToleratedFailurePercentage', 'ToleratedFailureCount', 'ToleratedFailurePercentagePath', 'ToleratedFailureCountPath']) {
      expect([undefined, 0]).toContain(map[field]);
    }
    // The children's results are discarded: Finish receives Prepare's payload.
    expect(map['ResultPath']).toBeNull();
    const processor = map['ItemProcessor'] as Definition;
    expect(Object.keys(processor.States)).toEqual([processor.StartAt]);
    expect(processor.States[processor.StartAt]).toMatchObject({ Type: 'Task', Resource: fnArn(ids.score), End: true });
    // Each child's output is {} (OutputPath null): the Map gathers them all, within 256 KiB for any shard count.
    expect(processor.States[processor.StartAt]!['OutputPath']).toBeNull();

    const finish = states[map.Next!]!;
    expect(finish).toMatchObject({ Type: 'Task', Resource: fnArn(ids.finish) });
    expect(states[finish.Next!]!.Type).toBe('Succeed');
  });

  it("retries each task on the Lambda service's errors and catches every failure into a Fail state", () => {
    const states = definition.States;
    const map = Object.values(states).find((s) => s.Type === 'Map')!;
    const processor = map['ItemProcessor'] as Definition;
    const tasks = [...Object.values(states), ...Object.values(processor.States)].filter((s) => s.Type === 'Task');
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      const errors = (task.Retry ?? []).flatMap((r) => r.ErrorEquals);
      expect(errors).toEqual(expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException', 'Lambda.SdkClientException']));
      // A handler's own error is not retried blindly.
      expect(errors).not.toContain('States.ALL');
    }
    for (const state of [states['Prepare']!, map, states[map.Next!]!]) {
      expect(state.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'] })]);
      expect(states[state.Catch![0]!.Next]!.Type).toBe('Fail');
    }
  });

  it('logs every execution event to its log group and traces with X-Ray', () => {
    fanned.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }] },
      TracingConfiguration: { Enabled: true },
    });
  });

  it('schedules the start function (same input as the single function) and lets it start executions of this state machine only', () => {
    fanned.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(15 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [ids.start, 'Arn'] },
        Input: JSON.stringify({ time: '<aws.scheduler.scheduled-time>', timezone: 'Europe/Berlin' }),
      }),
    });
    const start = fanned.findResources('AWS::Lambda::Function')[ids.start]!['Properties'];
    expect(start['Environment']).toMatchObject({ Variables: { STATE_MACHINE_ARN: { Ref: stateMachineId } } });
    const statements = roleStatements(fanned, ids.start);
    const states = statements.filter((s) => s.actions.some((a) => a.startsWith('states:')));
    expect(states.flatMap((s) => s.actions).sort()).toEqual(['states:ListExecutions', 'states:StartExecution']);
    for (const statement of states) expect(statement.resources).toEqual([`<${stateMachineId}>`]);
    // Nothing else but its failure queue: no data, no functions.
    expect(statements.flatMap((s) => s.actions).filter((a) => !/^(states|sqs):/.test(a))).toEqual([]);
  });

  it("points the Slack worker's run at the state machine instead of the nightly function", () => {
    const workerId = constructFunctionId(fanned, 'SlackWorker');
    const worker = fanned.findResources('AWS::Lambda::Function')[workerId]!['Properties'];
    expect(worker['Environment']['Variables']).toMatchObject({ STATE_MACHINE_ARN: { Ref: stateMachineId } });
    const statements = roleStatements(fanned, workerId);
    const states = statements.filter((s) => s.actions.some((a) => a.startsWith('states:')));
    expect(states.flatMap((s) => s.actions).sort()).toEqual(['states:ListExecutions', 'states:StartExecution']);
    for (const statement of states) expect(statement.resources).toEqual([`<${stateMachineId}>`]);
    expect(statements.filter((s) => s.actions.includes('lambda:InvokeFunction'))).toEqual([]);
  });

  it('deploys prepare, score and finish from functions/fanout.ts with the nightly variables and the engine sized to each', () => {
    const functions = fanned.findResources('AWS::Lambda::Function');
    const nightly = functions[nightlyId(fanned)]!['Properties'];
    const variables = (id: string) => (functions[id]!['Properties']['Environment'] as { Variables: Record<string, unknown> }).Variables;
    for (const id of [ids.prepare, ids.finish]) {
      const phase = Object.entries(variables(id)).filter(([name]) => name !== 'FANOUT_LEASE_HOURS');
      expect(Object.fromEntries(phase)).toEqual(variables(nightlyId(fanned)));
      expect(functions[id]!['Properties']).toMatchObject({ MemorySize: nightly['MemorySize'], Timeout: nightly['Timeout'], Runtime: 'nodejs22.x' });
    }
    // Prepare hands the lock over for as long as the execution may run (fanout.timeoutHours: 3 here).
    expect(variables(ids.prepare)['FANOUT_LEASE_HOURS']).toBe('3');
    expect(variables(ids.finish)['FANOUT_LEASE_HOURS']).toBeUndefined();
    // Scoring a shard queries nothing: no Athena variables.
    const phaseVariables = Object.keys(variables(ids.finish)).filter((name) => !['ATHENA_WORKGROUP', 'GLUE_DATABASE'].includes(name));
    expect(Object.keys(variables(ids.score)).sort()).toEqual(phaseVariables.sort());
    expect(variables(ids.score)).toMatchObject({ ENGINE_MEMORY_LIMIT: `${Math.floor(3072 * 0.6)}MB`, CONFIG_JSON: JSON.stringify(PIPELINE) });
    expect(functions[ids.score]!['Properties']).toMatchObject({ MemorySize: 3072, Timeout: 900 });
  });

  it('grants prepare and finish what the nightly function has, and the score function only the staging prefix', () => {
    for (const id of [ids.prepare, ids.finish]) {
      expect(s3Statements(roleStatements(fanned, id))).toEqual(runAccess(fanned));
      expectQueryAccess(roleStatements(fanned, id), 'crm-metrics-pipeline', ['transactions', 'transactions_staged']);
    }
    const curated = `<${bucketId(fanned, 'Curated')}.Arn>`;
    const score = roleStatements(fanned, ids.score);
    expect(s3Statements(score)).toEqual([
      { effect: 'Allow', actions: ['s3:ListBucket'], resources: [curated], condition: { StringLike: { 's3:prefix': ['curated/_staging/*'] } } },
      { effect: 'Allow', actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [`${curated}/curated/_staging/*`] },
    ]);
    // Nothing but S3 (and the logs its managed policy allows): it can write nowhere outside staging.
    expect(score.flatMap((s) => s.actions).filter((a) => !a.startsWith('s3:'))).toEqual([]);
    expectNoDataWildcards(fanned);
  });

  it("lets the state machine invoke its three functions, list the staging prefix and run its own children, and nothing else", () => {
    const roleId = (fanned.findResources('AWS::StepFunctions::StateMachine')[stateMachineId]!['Properties']['RoleArn'] as { 'Fn::GetAtt': [string] })[
      'Fn::GetAtt'
    ][0];
    const statements = Object.values(fanned.findResources('AWS::IAM::Policy'))
      .filter((p) => (p['Properties']['Roles'] as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => (p['Properties']['PolicyDocument'] as { Statement: Statement[] }).Statement)
      .map(rendered);
    const invoked = statements.filter((s) => s.actions.includes('lambda:InvokeFunction')).flatMap((s) => s.resources);
    expect(invoked.sort()).toEqual([ids.prepare, ids.score, ids.finish].flatMap((id) => [fnArn(id), `${fnArn(id)}:*`]).sort());
    expect(statements.filter((s) => s.actions.some((a) => a.startsWith('s3:')))).toEqual([
      {
        effect: 'Allow',
        actions: ['s3:ListBucket'],
        resources: [`<${bucketId(fanned, 'Curated')}.Arn>`],
        condition: { StringLike: { 's3:prefix': ['curated/_staging/*'] } },
      },
    ]);
    const states = statements.filter((s) => s.actions.some((a) => a.startsWith('states:')));
    expect(states).toContainEqual(expect.objectContaining({ actions: ['states:StartExecution'], resources: [`<${stateMachineId}>`] }));
    // Child executions and map runs: executions of this state machine (its name, split from its ARN).
    const own = `<split(<${stateMachineId}>,:)[6]>`;
    for (const statement of states) {
      for (const resource of statement.resources) {
        expect([`<${stateMachineId}>`, `arn:aws:states:<AWS::Region>:<AWS::AccountId>:execution:${own}:*`, `arn:aws:states:<AWS::Region>:<AWS::AccountId>:execution:${own}/ScoreShards:*`]).toContain(resource);
      }
    }
    // Only log delivery and X-Ray (no resource-level permissions exist for them) are on every resource.
    const everywhere = statements.filter((s) => s.resources.includes('*')).flatMap((s) => s.actions);
    expect(everywhere.every((a) => /^(logs|xray):/.test(a)), everywhere.join()).toBe(true);
  });

  it('acknowledges only the wildcards it names: another execution, or the same grant in another role, stays a finding', async () => {
    const dir = await tempDir('cdk-nag-exact');
    const configFile = join(dir, 'deploy.json');
    await writeFile(configFile, JSON.stringify({ orchestration: 'step-functions' }));
    // No bundling: only cdk-nag's findings matter here.
    const { app, stack } = buildApp(new App({ outdir: dir, context: { config: configFile, 'aws:cdk:bundling-stacks': [] } }));
    const machine = stack.fanOutStateMachine!;
    const otherExecutions = stack.formatArn({ service: 'states', resource: 'execution', resourceName: 'Other:*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    machine.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [otherExecutions] }));
    // The state machine may invoke any version of prepare; the nightly function may not.
    const prepare = stack.node.findChild('FanOutPrepare') as lambda.Function;
    stack.nightly.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [`${prepare.functionArn}:*`] }));
    let report = '';
    try {
      app.synth();
    } catch (error) {
      report = String(error);
    }
    expect(report).toContain('AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:Other:*]');
    expect(report).toContain(`AwsSolutions-IAM5[Resource::<${ids.prepare}.Arn>:*]`);
  });

  it('alarms when an execution fails, times out or is aborted', () => {
    fanned.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'AWS/States', MetricName: 'ExecutionsFailed', Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: stateMachineId } }] },
          }),
        }),
      ]),
    });
  });

  it('bundles the phases with the native engine and start without it, each exporting the handler its function names', async () => {
    const functions = fanned.findResources('AWS::Lambda::Function');
    for (const id of Object.values(ids)) {
      const { Handler, Code } = functions[id]!['Properties'] as { Handler: string; Code: { S3Key: string } };
      const asset = join(fannedOut, `asset.${Code.S3Key.replace(/\.zip$/, '')}`);
      if (id === ids.start) {
        expect(await readdir(asset)).toEqual(['index.mjs']);
      } else {
        expect((await readdir(join(asset, 'node_modules', '@duckdb'))).sort()).toEqual(['node-api', 'node-bindings', 'node-bindings-linux-x64']);
      }
      const script = `const m = await import(${JSON.stringify(join(asset, 'index.mjs'))}); process.stdout.write(typeof m[${JSON.stringify(Handler.replace(/^index\./, ''))}]);`;
      const { stdout } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { cwd: asset, env: { PATH: process.env['PATH'] } });
      expect(stdout, Handler).toBe('function');
    }
  }, 60_000);
});
