/**
 * The functions' environment variables, declared once: each handler reads its own with `readEnv`,
 * and the stack (infra/) sets them as an {@link Env}, so a variable renamed or misspelt on either
 * side fails to compile, not in a deployed function.
 *
 * The CDK app imports this module: it must import no SDK, engine or handler code.
 */

/** Every variable a function of this project is given, with who sets it and who reads it. */
export interface Env {
  /** Where the extracts are read: `s3://<raw bucket>/<rawPrefix>` (a local directory in tests). Engine functions. */
  readonly SOURCE_URI?: string;
  /** Where the tables and reports are published: `s3://<curated bucket>/<curatedPrefix>`. Engine functions, Slack worker. */
  readonly DEST_URI?: string;
  /** The run configuration as JSON (absent: the defaults); the Slack worker gets its `display` part only. */
  readonly CONFIG_JSON?: string;
  /** DuckDB's share of the function's memory (e.g. "3686MB"); the rest is Node's. Engine functions. */
  readonly ENGINE_MEMORY_LIMIT?: string;
  /**
   * The Athena workgroup: of the history queries for engine functions (`engine.history` athena or
   * auto; with GLUE_DATABASE, both or neither), of the answers for the Slack worker.
   */
  readonly ATHENA_WORKGROUP?: string;
  /** The Glue database of the tables (see ATHENA_WORKGROUP). */
  readonly GLUE_DATABASE?: string;
  /** The nightly function the Slack worker's `run` invokes. */
  readonly NIGHTLY_FUNCTION?: string;
  /** The fanned-out night's state machine: the start function starts it; the Slack worker's `run` does when it is set. */
  readonly STATE_MACHINE_ARN?: string;
  /** How long Prepare hands the destination's lock over to Finish, in hours: the state machine's timeout (absent: 2). Fan-out Prepare. */
  readonly FANOUT_LEASE_HOURS?: string;
  /** The schedule's time zone, in which the Slack worker's default run date is yesterday (absent: UTC). */
  readonly SCHEDULE_TIMEZONE?: string;
  /** Response URLs the Slack worker posts to must start with this (absent: Slack's own); tests point it elsewhere. */
  readonly SLACK_RESPONSE_URL_PREFIX?: string;
  /** The Secrets Manager secret holding the Slack app's signing secret (the ARN, never the value). Slack endpoint. */
  readonly SLACK_SECRET_ARN?: string;
  /** The Slack worker the endpoint hands each command to. */
  readonly WORKER_FUNCTION?: string;
  /** Who may use the command, as JSON (shared/slack/ack.ts; absent: nobody). Slack endpoint. */
  readonly SLACK_ACCESS_JSON?: string;
  /** The DynamoDB table of accepted requests (shared/slack/replay.ts). Slack endpoint. */
  readonly REPLAY_TABLE?: string;
  /** Read by DuckDB, which wants a home directory: Lambda's file system is writable under /tmp only. */
  readonly HOME?: string;
  /** Read by Powertools' logger. */
  readonly POWERTOOLS_LOG_LEVEL?: string;
}

export type EnvName = keyof Env;

/**
 * The variables a handler reads, from the process environment: each of `required` must be set (a
 * missing one fails, naming it); each of `optional` is undefined when unset. An empty value counts
 * as unset: the stack never sets one.
 */
export function readEnv<R extends EnvName, O extends EnvName = never>(
  required: readonly R[],
  optional: readonly O[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Required<Pick<Env, R>> & Pick<Env, O> {
  const missing = required.filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`environment variable${missing.length > 1 ? 's' : ''} not set: ${missing.join(', ')}`);
  const names: readonly EnvName[] = [...required, ...optional];
  return Object.fromEntries(names.filter((name) => env[name]).map((name) => [name, env[name]])) as Required<Pick<Env, R>> & Pick<Env, O>;
}
