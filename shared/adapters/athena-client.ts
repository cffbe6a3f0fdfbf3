/**
 * A small Athena query client: start a query with bound parameters, poll it to completion with
 * backoff, and read its result pages as typed rows. Used by the Slack command and `--engine athena`.
 *
 * Throttling is retried by the SDK's own retry strategy (configured on the AthenaClient), not here.
 */
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaError,
  type ColumnInfo,
  type QueryExecution,
  type Row,
} from '@aws-sdk/client-athena';
import { setTimeout as delay } from 'node:timers/promises';
import type { SqlParameter } from '../engine/sql-engine.js';

export interface AthenaQueryClientOptions {
  workGroup: string;
  database: string;
  /** Data catalog of `database`; default 'AwsDataCatalog'. */
  catalog?: string;
  /** Default: a client with the SDK's adaptive retry (5 attempts), which absorbs throttling. */
  client?: AthenaClient;
  /** How long `wait` lets a query run before stopping it; default 120 s. */
  timeoutMs?: number;
  /** First delay between GetQueryExecution polls; doubles after each poll. Default 200 ms. */
  initialPollMs?: number;
  /** Cap on the poll delay; default 2 s. */
  maxPollMs?: number;
  /** Injectable for tests. The signal is advisory: the wait is abandoned on abort regardless. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}


/** Why a query did not produce results: Athena's own terminal state, or our timeout / the caller's abort. */
export type AthenaQueryErrorReason = 'FAILED' | 'CANCELLED' | 'TIMEOUT' | 'ABORTED';

export class AthenaQueryError extends Error {
  override readonly name = 'AthenaQueryError';
  readonly reason: AthenaQueryErrorReason;
  readonly queryExecutionId: string | undefined;
  /** The last state Athena reported (QUEUED / RUNNING / FAILED / CANCELLED). */
  readonly state: string | undefined;
  /** From Status.AthenaError: 1 system, 2 user, 3 other. */
  readonly errorCategory: number | undefined;
  /** From Status.AthenaError; see the Athena error catalog. */
  readonly errorType: number | undefined;
  readonly retryable: boolean | undefined;

  constructor(
    message: string,
    details: {
      reason: AthenaQueryErrorReason;
      queryExecutionId?: string;
      state?: string;
      athenaError?: AthenaError;
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = details.reason;
    this.queryExecutionId = details.queryExecutionId;
    this.state = details.state;
    this.errorCategory = details.athenaError?.ErrorCategory;
    this.errorType = details.athenaError?.ErrorType;
    this.retryable = details.athenaError?.Retryable;
  }
}

/**
 * Renders a parameter as the SQL literal text Athena expects in ExecutionParameters. Athena splices
 * each entry into the statement as a literal, so strings must be quoted here: doubling `'` keeps any
 * input (`x' OR '1'='1`) a single inert string literal. (Backslash is not an escape in Trino SQL.)
 */
export function athenaLiteral(value: SqlParameter): string {
  if (value === null) return 'NULL';
  switch (typeof value) {
    case 'string':
      return `'${value.replaceAll("'", "''")}'`;
    case 'boolean':
      return value ? 'TRUE' : 'FALSE';
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`Cannot bind ${value} as an Athena parameter`);
      // Shortest round-tripping decimal text; very large/small magnitudes use exponent form, which
      // Trino reads as a DOUBLE literal.
      return String(value);
    default:
      // Unreachable for typed callers; guards JS callers and casts (Date, undefined, bigint, ...).
      throw new TypeError(`Unsupported Athena parameter type: ${typeof value}`);
  }
}

const QUERY_RESULTS_PAGE_SIZE = 1000; // the API maximum
const STOP_REQUEST_TIMEOUT_MS = 10_000;

export class AthenaQueryClient {
  private readonly client: AthenaClient;
  private readonly workGroup: string;
  private readonly database: string;
  private readonly catalog: string;
  private readonly timeoutMs: number;
  private readonly initialPollMs: number;
  private readonly maxPollMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: AthenaQueryClientOptions) {
    this.client = options.client ?? new AthenaClient({ maxAttempts: 5, retryMode: 'adaptive' });
    this.workGroup = options.workGroup;
    this.database = options.database;
    this.catalog = options.catalog ?? 'AwsDataCatalog';
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.initialPollMs = options.initialPollMs ?? 200;
    this.maxPollMs = options.maxPollMs ?? 2_000;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  }

  /**
   * Runs `sql` with `?` placeholders bound through Athena ExecutionParameters (never concatenated
   * into the text) and returns typed rows.
   */
  async query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    parameters: readonly SqlParameter[] = [],
    signal?: AbortSignal,
  ): Promise<T[]> {
    signal?.throwIfAborted();
    const queryExecutionId = await this.start(sql, parameters, signal);
    const execution = await this.wait(queryExecutionId, signal);
    return this.results<T>(execution, signal);
  }

  /** Runs a statement whose effect is the point (UNLOAD, DDL) and returns its final QueryExecution. */
  async execute(sql: string, signal?: AbortSignal): Promise<QueryExecution> {
    return this.wait(await this.start(sql, [], signal), signal);
  }

  /** The result columns of a query that returns no rows (e.g. `… LIMIT 0`): names and Athena types. */
  async columns(sql: string, signal?: AbortSignal): Promise<ColumnInfo[]> {
    const execution = await this.execute(sql, signal);
    const page = await this.client.send(new GetQueryResultsCommand({ QueryExecutionId: execution.QueryExecutionId, MaxResults: 1 }), {
      abortSignal: signal,
    });
    return page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
  }

  /** Submits the query and returns its execution id. */
  async start(sql: string, parameters: readonly SqlParameter[] = [], signal?: AbortSignal): Promise<string> {
    const { QueryExecutionId } = await this.client.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        WorkGroup: this.workGroup,
        QueryExecutionContext: { Database: this.database, Catalog: this.catalog },
        // Athena rejects an empty list, so the field is only sent when there is something to bind.
        ExecutionParameters: parameters.length > 0 ? parameters.map(athenaLiteral) : undefined,
      }),
      { abortSignal: signal },
    );
    if (!QueryExecutionId) throw new Error('StartQueryExecution returned no QueryExecutionId');
    return QueryExecutionId;
  }

  /**
   * Polls until the query succeeds and returns its final QueryExecution. Throws AthenaQueryError when
   * it fails or is cancelled, and stops it (StopQueryExecution) before throwing on timeout or abort,
   * so that an abandoned query does not keep scanning (and billing).
   */
  async wait(queryExecutionId: string, signal?: AbortSignal): Promise<QueryExecution> {
    // One internal signal ends both the in-flight request and the sleep, whichever of our timeout or
    // the caller's abort comes first; its reason says which.
    const halt = new AbortController();
    const timer = setTimeout(() => halt.abort('TIMEOUT' satisfies AthenaQueryErrorReason), this.timeoutMs);
    const onAbort = () => halt.abort('ABORTED' satisfies AthenaQueryErrorReason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });

    let lastState: string | undefined;
    let pollMs = this.initialPollMs;
    try {
      for (;;) {
        const { QueryExecution: execution } = await this.client.send(
          new GetQueryExecutionCommand({ QueryExecutionId: queryExecutionId }),
          { abortSignal: halt.signal },
        );
        const status = execution?.Status;
        lastState = status?.State;
        if (execution && lastState === 'SUCCEEDED') return execution;
        if (lastState === 'FAILED' || lastState === 'CANCELLED') {
          const why = status?.AthenaError?.ErrorMessage ?? status?.StateChangeReason ?? 'no reason given';
          throw new AthenaQueryError(`Athena query ${queryExecutionId} ${lastState}: ${why}`, {
            reason: lastState,
            queryExecutionId,
            state: lastState,
            athenaError: status?.AthenaError,
          });
        }
        // QUEUED, RUNNING (or a state we do not know yet): back off, then ask again.
        await abandonOnAbort(this.sleep(pollMs, halt.signal), halt.signal);
        pollMs = Math.min(pollMs * 2, this.maxPollMs);
      }
    } catch (error) {
      if (!halt.signal.aborted || error instanceof AthenaQueryError) throw error;
      const reason = halt.signal.reason as AthenaQueryErrorReason;
      const what = reason === 'TIMEOUT' ? `timed out after ${this.timeoutMs} ms` : 'was aborted';
      const stopped = await this.stop(queryExecutionId);
      throw new AthenaQueryError(`Athena query ${queryExecutionId} ${what} (last state ${lastState ?? 'unknown'}); ${stopped}`, {
        reason,
        queryExecutionId,
        state: lastState,
        // The caller's abort reason is worth keeping; on timeout the low-level error is just our own abort.
        cause: reason === 'ABORTED' ? signal?.reason : undefined,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Reads every result page of a finished query and converts each row by its column types. */
  async results<T extends Record<string, unknown> = Record<string, unknown>>(
    execution: QueryExecution,
    signal?: AbortSignal,
  ): Promise<T[]> {
    const queryExecutionId = execution.QueryExecutionId;
    if (!queryExecutionId) throw new Error('QueryExecution has no QueryExecutionId');
    // Only a SELECT's first page starts with a row of column labels; DDL/utility results do not.
    let skipHeaderRow = hasHeaderRow(execution);
    let columns: ColumnInfo[] = [];
    const rows: T[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetQueryResultsCommand({ QueryExecutionId: queryExecutionId, MaxResults: QUERY_RESULTS_PAGE_SIZE, NextToken: nextToken }),
        { abortSignal: signal },
      );
      columns = page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? columns;
      const pageRows = page.ResultSet?.Rows ?? [];
      for (const row of skipHeaderRow ? pageRows.slice(1) : pageRows) rows.push(toRecord(row, columns) as T);
      skipHeaderRow = false;
      nextToken = page.NextToken;
    } while (nextToken);
    return rows;
  }

  /** Best-effort StopQueryExecution; returns a note for the error message rather than masking it. */
  private async stop(queryExecutionId: string): Promise<string> {
    try {
      // Bounded, so that an unresponsive endpoint cannot turn our timeout into a hang.
      await this.client.send(new StopQueryExecutionCommand({ QueryExecutionId: queryExecutionId }), {
        abortSignal: AbortSignal.timeout(STOP_REQUEST_TIMEOUT_MS),
      });
      return 'it was stopped with StopQueryExecution';
    } catch (error) {
      return `StopQueryExecution also failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
}

/** Rejects as soon as `signal` aborts, even if `promise` (e.g. an injected sleep) ignores the signal. */
function abandonOnAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function hasHeaderRow(execution: QueryExecution): boolean {
  // SubstatementType is the precise signal; older responses only say DML (which is how SELECT is classed).
  if (execution.SubstatementType) return execution.SubstatementType.toUpperCase() === 'SELECT';
  return execution.StatementType === 'DML';
}

function toRecord(row: Row, columns: readonly ColumnInfo[]): Record<string, unknown> {
  const data = row.Data ?? [];
  const record: Record<string, unknown> = {};
  columns.forEach((column, i) => {
    record[column.Name ?? `_col${i}`] = convert(data[i]?.VarCharValue, column);
  });
  return record;
}

/** Athena returns every value as text; this maps it to JS by the column's type. Missing text is NULL. */
function convert(text: string | undefined, column: ColumnInfo): unknown {
  if (text === undefined) return null;
  // Types may carry parameters or qualifiers ("decimal(10,2)", "timestamp with time zone", "array(varchar)").
  const type = (column.Type ?? '').toLowerCase().split(/[\s(<]/, 1)[0];
  switch (type) {
    case 'tinyint':
    case 'smallint':
    case 'integer':
    case 'int':
    case 'bigint':
      return toInteger(text, column);
    case 'double':
    case 'float':
    case 'real':
    case 'decimal': // a JS number: fine for metrics, but beyond ~15 significant digits it rounds
      return toFloat(text, column);
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      throw unexpected(text, column);
    default:
      // varchar/char/string/json/uuid/ipaddress, date ('YYYY-MM-DD'), timestamp (as Athena prints it),
      // array/map/row (Athena's own rendering, not JSON) and any type we do not know: the text itself.
      return text;
  }
}

function toInteger(text: string, column: ColumnInfo): number {
  if (!/^[+-]?\d+$/.test(text)) throw unexpected(text, column);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `Athena column "${column.Name}" (${column.Type}) value ${text} is beyond Number.MAX_SAFE_INTEGER and would lose precision; CAST it to VARCHAR in the query`,
    );
  }
  return value;
}

const FLOAT_TEXT = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?Infinity)$/;

function toFloat(text: string, column: ColumnInfo): number {
  // Number('') is 0, so validate the text rather than trusting Number().
  if (!FLOAT_TEXT.test(text)) throw unexpected(text, column);
  return Number(text);
}

function unexpected(text: string, column: ColumnInfo): Error {
  return new TypeError(`Athena column "${column.Name}" (${column.Type}) has unexpected value ${JSON.stringify(text)}`);
}
