/**
 * The CDK app synthesized the way `cdk deploy` synthesizes it: by the CDK CLI, running cdk.json's
 * app command, cdk-nag included (an unacknowledged finding fails the command). Unlike the
 * in-process synthesis of infra.test.ts, where region and account stay unresolved, the CLI hands
 * the app a concrete region (AWS_REGION's, else us-east-1: it replaces CDK_DEFAULT_REGION with its
 * own) and the account of the credentials or CDK_DEFAULT_ACCOUNT; a finding id written with
 * `<AWS::Region>` misses there. Both orchestrations, with a concrete account and region and with
 * neither set; then the fanned-out state machine's definition checked against the Amazon States
 * Language with asl-validator.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** asl-validator ships no types: its default export, as far as the tests use it. */
const validateAsl = require('asl-validator') as (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The project's own CLI (what `npx cdk` runs), called directly: npm never looks anything up. */
const CDK = join(PROJECT_ROOT, 'node_modules', '.bin', 'cdk');
const STACK = 'CrmMetrics';
/** esbuild bundles every function on each synthesis. */
const SYNTH_TIMEOUT = 300_000;

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const ENVIRONMENTS = {
  // CDK_DEFAULT_REGION alone would be replaced by the CLI's default region: AWS_REGION sets that.
  concrete: { vars: { CDK_DEFAULT_ACCOUNT: ACCOUNT, CDK_DEFAULT_REGION: REGION, AWS_REGION: REGION }, stackEnv: `aws://${ACCOUNT}/${REGION}` },
  // No account (no credentials) and the CLI's fallback region.
  unset: { vars: {}, stackEnv: 'aws://unknown-account/us-east-1' },
} as const;
type Environment = keyof typeof ENVIRONMENTS;
type Orchestration = 'lambda' | 'step-functions';

interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Synthesized {
  /** The stack's environment as the cloud assembly records it (`aws://account/region`). */
  stackEnv: string;
  resources: Record<string, CfnResource>;
}

/**
 * The CLI's environment: the test's without any AWS or CDK variable (no credentials, profile or
 * region of the machine running the tests; without credentials the CLI asks STS nothing), AWS
 * config files that do not exist, a fresh home (no user-level cdk.json), and everything else that
 * would reach the network off: the version check, notices (`--no-notices`), telemetry, the EC2
 * metadata service (a region and credentials fallback).
 */
function cliEnvironment(home: string, vars: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !/^(AWS_|AMAZON_|CDK_)/.test(name));
  return {
    ...Object.fromEntries(inherited),
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    CDK_DISABLE_VERSION_CHECK: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    ...vars,
  };
}

/** `cdk synth` of a deploy config with this orchestration; fails (with the CLI's output) on any cdk-nag finding. */
async function cliSynth(orchestration: Orchestration, environment: Environment): Promise<Synthesized> {
  const dir = await tempDir(`cdk-cli-${orchestration}-${environment}`);
  const configFile = join(dir, 'deploy.json');
  await writeFile(configFile, JSON.stringify({ orchestration }));
  const outdir = join(dir, 'cdk.out');
  await run(CDK, ['synth', '--quiet', '--no-notices', '--no-lookups', '-c', `config=${configFile}`, '-o', outdir], {
    cwd: PROJECT_ROOT,
    env: cliEnvironment(dir, ENVIRONMENTS[environment].vars),
    maxBuffer: 64 * 1024 * 1024,
  });
  const manifest = JSON.parse(await readFile(join(outdir, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { environment?: string }> };
  const template = JSON.parse(await readFile(join(outdir, `${STACK}.template.json`), 'utf8')) as { Resources: Record<string, CfnResource> };
  return { stackEnv: manifest.artifacts[STACK]!.environment!, resources: template.Resources };
}

/** Each synthesis once, shared by the tests that read it (the first to ask runs it). */
const synths = new Map<string, Promise<Synthesized>>();
function synthesized(orchestration: Orchestration, environment: Environment): Promise<Synthesized> {
  const key = `${orchestration}/${environment}`;
  if (!synths.has(key)) synths.set(key, cliSynth(orchestration, environment));
  return synths.get(key)!;
}

const resourcesOfType = (s: Synthesized, type: string) => Object.entries(s.resources).filter(([, r]) => r.Type === type);

/**
 * A template value as concrete text: `Fn::Join` joined, the pseudo parameters as a plausible
 * partition, region and account, a function's `Arn` as a Lambda ARN. Anything else throws, so a
 * definition that came to hold another intrinsic is noticed rather than validated half-resolved.
 */
function resolveValue(value: unknown, resources: Record<string, CfnResource>): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => resolveValue(part, resources)).join(separator);
  }
  const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT };
  if ('Ref' in intrinsic && String(intrinsic['Ref']) in pseudo) return pseudo[String(intrinsic['Ref'])]!;
  if ('Fn::GetAtt' in intrinsic) {
    const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    if (resources[id]?.Type === 'AWS::Lambda::Function' && attribute === 'Arn') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
  }
  throw new Error(`no concrete value for ${JSON.stringify(value)}`);
}

/** The one state machine's definition, resolved to concrete JSON. */
function stateMachineDefinition(s: Synthesized): Record<string, unknown> {
  const machines = resourcesOfType(s, 'AWS::StepFunctions::StateMachine');
  expect(machines).toHaveLength(1);
  return JSON.parse(resolveValue(machines[0]![1].Properties['DefinitionString'], s.resources)) as Record<string, unknown>;
}

const cases = (['lambda', 'step-functions'] as const).flatMap((orchestration) =>
  (Object.keys(ENVIRONMENTS) as Environment[]).map((environment) => ({ orchestration, environment })),
);

describe('CDK CLI synthesis (as cdk deploy runs it)', () => {
  it.each(cases)('synthesizes orchestration $orchestration with the environment $environment, cdk-nag finding nothing', async ({ orchestration, environment }) => {
    const s = await synthesized(orchestration, environment);
    // The environment reached the app: with the concrete one, the ARNs CDK formats hold it.
    expect(s.stackEnv).toBe(ENVIRONMENTS[environment].stackEnv);
    expect(resourcesOfType(s, 'AWS::StepFunctions::StateMachine')).toHaveLength(orchestration === 'step-functions' ? 1 : 0);
    if (orchestration === 'step-functions') {
      // The policy whose wildcard findings were acknowledged with tokens, and so missed, under the CLI.
      const policy = resourcesOfType(s, 'AWS::IAM::Policy').find(([id]) => id.startsWith('FanOutDistributedMapPolicy'))?.[1];
      const execution = environment === 'concrete' ? `:states:${REGION}:${ACCOUNT}:execution:` : ':states:us-east-1:",{"Ref":"AWS::AccountId"},":execution:';
      expect(JSON.stringify(policy!.Properties['PolicyDocument'])).toContain(execution);
    }
  }, SYNTH_TIMEOUT);

  it.each(Object.keys(ENVIRONMENTS) as Environment[])(
    'synthesizes a state machine definition that asl-validator finds valid Amazon States Language (environment %s)',
    async (environment) => {
      const definition = stateMachineDefinition(await synthesized('step-functions', environment));
      // The validator fills in defaults (QueryLanguage) on what it is given: a copy each time.
      const result = validateAsl(structuredClone(definition));
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
    },
    SYNTH_TIMEOUT,
  );

  it('asl-validator reports a broken definition invalid (so the check above means something)', async () => {
    const definition = stateMachineDefinition(await synthesized('step-functions', 'concrete'));
    const states = definition['States'] as Record<string, Record<string, unknown>>;
    expect(validateAsl(structuredClone(definition)).isValid).toBe(true);
    const broken = (edit: (s: typeof states) => void) => {
      const copy = structuredClone(definition);
      edit(copy['States'] as typeof states);
      return validateAsl(copy).isValid;
    };
    // A transition to a state that does not exist.
    expect(broken((s) => (s['Prepare']!['Next'] = 'Nowhere'))).toBe(false);
    // A task whose resource is no ARN: an intrinsic left as a placeholder, as a textual rendering would leave it.
    expect(broken((s) => (s['Prepare']!['Resource'] = `<${String(states['Prepare']!['Resource']).split(':').pop()}.Arn>`))).toBe(false);
    // A Map without the processor its items run in.
    expect(broken((s) => delete s['ScoreShards']!['ItemProcessor'])).toBe(false);
  }, SYNTH_TIMEOUT);
});
