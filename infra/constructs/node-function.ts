import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemovalPolicy, Validations, type Duration, type Size } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Env } from '../../functions/env.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The engine's native binding cannot be bundled: these packages are copied beside the bundle. */
const NATIVE_PACKAGES = ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64', 'detect-libc'];

/** The Lambda environment holds 4 KB for all variables together. */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

export interface NodeFunctionProps {
  /** The handler's module, from the project root (e.g. `functions/nightly.ts`). */
  readonly entry: string;
  /**
   * The module's export that handles invocations.
   * @default 'handler'
   */
  readonly handler?: string;
  readonly description: string;
  /** Memory in MB (the CPU share grows with it). */
  readonly memorySize: number;
  readonly timeout: Duration;
  /**
   * Size of /tmp.
   * @default 512 MiB (Lambda's)
   */
  readonly ephemeralStorageSize?: Size;
  /** The function's variables, by the names functions/env.ts declares (the handler reads them there). */
  readonly env: Env;
  /**
   * Concurrent executions reserved for the function, and its limit.
   * @default none: the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * How often Lambda retries a failed asynchronous invocation.
   * @default 2 (Lambda's)
   */
  readonly retryAttempts?: number;
  /**
   * Where a failed asynchronous invocation is sent.
   * @default nowhere
   */
  readonly onFailure?: lambda.IDestination;
  /**
   * Whether the bundle carries DuckDB's native packages (copied beside it: a .node binding cannot be bundled).
   * @default false
   */
  readonly nativeEngine?: boolean;
}

/**
 * A function of this project: Node.js 22 on x86_64, its entry bundled by esbuild as ESM with the
 * lockfile's dependencies (the AWS SDK included), its own log group kept three months, and its
 * environment given by functions/env.ts's names only.
 *
 * A NodejsFunction itself, so that everything in it keeps the logical id a function of the same
 * id had at the same place.
 */
export class NodeFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: NodeFunctionProps) {
    const { entry, handler = 'handler', env, nativeEngine = false, ...functionProps } = props;
    const environment = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const environmentBytes = Object.entries(environment).reduce((n, [name, value]) => n + name.length + value.length, 0);
    if (environmentBytes > LAMBDA_ENVIRONMENT_BYTES / 2) {
      // Tokens (bucket names, ARNs) resolve to longer strings at deploy time: half the room is kept for them.
      throw new Error(`${id}: environment too large for Lambda (${environmentBytes} bytes); shorten the pipeline config`);
    }
    super(scope, id, {
      entry: join(PROJECT_ROOT, entry),
      handler,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      // DuckDB's native binding is published for linux-x64 only.
      architecture: lambda.Architecture.X86_64,
      // Beside the function (`<id>Logs`), not inside it: where the stack created it before this
      // construct existed, so that its logical id, and the logs in it, stay.
      logGroup: new logs.LogGroup(scope, `${id}Logs`, { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY }),
      ...functionProps,
      environment,
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Bundled CommonJS dependencies call require(); ESM output has none unless given one.
        banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        minify: true,
        sourceMap: false,
        // The AWS SDK is bundled too (CDK leaves it to the runtime by default): every function runs
        // the lockfile's SDK, the one the tests ran, not whatever version the runtime carries.
        externalModules: nativeEngine ? NATIVE_PACKAGES : [],
        ...(nativeEngine
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (inputDir: string, outputDir: string) => [
                  `mkdir -p "${outputDir}/node_modules/@duckdb"`,
                  ...NATIVE_PACKAGES.map((name) => `cp -R "${inputDir}/node_modules/${name}" "${outputDir}/node_modules/${name}"`),
                ],
              },
            }
          : {}),
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to Node.js 22: the DuckDB native binding is built and tested for it (the issue fixes the runtime).',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'AWSLambdaBasicExecutionRole only lets the function write its own logs.',
    });
  }
}
