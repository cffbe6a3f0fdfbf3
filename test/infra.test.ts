/**
 * The CDK app, synthesized for real (esbuild bundling included) with cdk-nag's AWS Solutions pack:
 * the template's schedule, function, buckets, Glue tables, IAM and alarms, and the bundle itself
 * running the pipeline from a copy outside the project.
 */
import { execFile } from 'node:child_process';
import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TrinoSQL } from 'dt-sql-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { CATALOG, COLUMN_TYPES, PARTITION_COLUMN, type Table } from '../shared/catalog.js';
import { NIGHTLY_METRICS } from '../shared/metrics.js';
import { buildApp } from '../infra/app.js';
import { parseDeployConfig } from '../infra/config.js';
import { CSV_HEADER, tempDir, writeExtract } from './helpers.js';

const run = promisify(execFile);

const PIPELINE = { input: { columns: { customer_id: 'CustomerID' } }, holdout: { salt: 'crm-2026' } };
let template: Template;
let outdir: string;

beforeAll(async () => {
  outdir = await tempDir('cdk-out');
  const configFile = join(outdir, 'deploy.json');
  await writeFile(
    configFile,
    JSON.stringify({ schedule: { hour: 3, minute: 15, timezone: 'Europe/Berlin' }, athena: { bytesScannedCutoffGb: 5 }, pipeline: PIPELINE }),
  );
  const { app, stack } = buildApp(new App({ outdir, context: { config: configFile } }));
  // Synthesis runs the cdk-nag plugin; any unacknowledged finding makes it throw.
  app.synth();
  template = Template.fromStack(stack);
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

describe('CDK stack', () => {
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
    for (const table of CATALOG as readonly Table[]) {
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
    const snapshots = (CATALOG as readonly Table[]).filter((t) => t.name !== 'transactions');
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

  it('limits the Athena workgroup and encrypts its results', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 5 * 1024 ** 3,
        ResultConfiguration: Match.objectLike({ EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } }),
      }),
    });
  });

  it('never grants S3, Glue or Athena actions on every resource', () => {
    const documents = [
      ...resources('AWS::IAM::Policy').map((p) => p.Properties['PolicyDocument']),
      ...resources('AWS::IAM::ManagedPolicy').map((p) => p.Properties['PolicyDocument']),
    ] as { Statement: { Action: string | string[]; Resource: unknown }[] }[];
    const scoped = documents
      .flatMap((d) => d.Statement)
      .filter((s) => [s.Action].flat().some((a) => /^(s3|glue|athena):/.test(a)));
    expect(scoped.length).toBeGreaterThan(5);
    for (const statement of scoped) {
      expect([statement.Resource].flat(), JSON.stringify(statement)).not.toContain('*');
      expect(JSON.stringify(statement.Resource)).not.toMatch(/table\/crm_metrics\/\*/);
    }
    // BI readers read the tables and reports, not the staging area or the holdout export.
    const biReads = JSON.stringify(scoped.filter((st) => st.Action === 's3:GetObject'));
    expect(biReads).toContain('/curated/customer_scores/*');
    expect(biReads).toContain('/curated/reports/*');
    expect(biReads).not.toMatch(/curated\/(_staging|exports)/);
    // The nightly role reads extracts only under the extract prefix.
    const nightlyReads = scoped.find((s) => s.Action === 's3:GetObject' && JSON.stringify(s.Resource).includes('raw/transactions/*'));
    expect(nightlyReads).toBeDefined();
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
    expect(Object.keys(variables).sort()).toEqual(['SLACK_ACCESS_JSON', 'SLACK_SECRET_ARN', 'WORKER_FUNCTION']);
    expect(endpoint.Properties['Timeout']).toBeLessThanOrEqual(10);
    const worker = functions.find((f) => JSON.stringify(f.Properties['Environment'] ?? {}).includes('ATHENA_WORKGROUP'))!;
    expect(worker.Properties['Timeout']).toBe(900);
    // The worker queries through the BI reader policy and may invoke the nightly function.
    const roles = template.findResources('AWS::IAM::Role');
    const workerRole = roles[(worker.Properties['Role'] as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]]!;
    expect(JSON.stringify(workerRole['Properties']['ManagedPolicyArns'])).toContain('BiReader');
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
  });
});
