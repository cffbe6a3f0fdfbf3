/**
 * The local command line: `crm-metrics generate | run | query`. Parses arguments, builds the local
 * dependencies and calls the same `runNightly` as the Lambda handler.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AthenaQueryClient } from '../shared/adapters/athena-client.js';
import { AthenaRemote } from '../shared/adapters/athena-remote.js';
import { loadConfig, parseConfig } from '../shared/config.js';
import { BUSINESS_DEFAULTS, businessConfig, generateBusiness } from '../shared/demo/business.js';
import { generateExtracts } from '../shared/demo/generate.js';
import { DuckDbEngine } from '../shared/adapters/duckdb.js';
import type { SqlRow } from '../shared/engine/sql-engine.js';
import { registerTableViews } from '../shared/local-query.js';
import { EarlierDatesUnpublished, reportKey, runNightly, runUnlessPublished, type ProgressEvent, type RunResult } from '../shared/pipeline.js';
import { notice, respond } from '../shared/slack/answers.js';
import { toPlainText, type SlackMessage } from '../shared/slack/blocks.js';
import { COMMAND_HELP, CommandError, parseCommand } from '../shared/slack/commands.js';
import { shiftDate } from '../shared/dates.js';
import { LocalObjectStore } from '../shared/adapters/local-store.js';
import { DestinationLocked, LockLost } from '../shared/store/lock.js';
import { storeFor } from '../shared/adapters/stores.js';
import { datesBetween, formatTable } from './cli-format.js';
import { GLOBAL_HOLDOUT_ROWS } from '../shared/tables/holdout-results.js';

const HELP = {
  main: `crm-metrics — nightly CRM analytics (RFM scores, segments, migration) from transaction extracts

Usage: crm-metrics <command> [options]

Commands:
  demo       generate a retailer's two years of history and a month of nights, run them, print the report
  generate   write synthetic extracts (BG/NBD purchase timing, Gamma-Gamma spend)
  run        run the nightly pipeline for a date or a range of dates
  query      run SQL over the output tables with the embedded engine (or Athena)
  slack      answer a /crm Slack command from the local tables, as Block Kit JSON or text

Run "crm-metrics <command> --help" for a command's options.`,
  demo: `Usage: crm-metrics demo [--dir DIR] [--customers N] [--quiet]

Writes a fashion retailer's extracts (an initial load of two years, then a daily extract each night to ${BUSINESS_DEFAULTS.to})
to DIR/source, the run config to DIR/config.json and the CRM programme's true effect to
DIR/truth.json; runs every night into DIR/out and prints the last report's path.
  --dir DIR            demo directory (default .demo; DIR/source and DIR/out are replaced)
  --customers N        customers to simulate (default ${BUSINESS_DEFAULTS.customers})
  --quiet              no line per night`,
  generate: `Usage: crm-metrics generate --dir DIR [--from YYYY-MM-DD --to YYYY-MM-DD] [options]

Writes DIR/transactions/dt=YYYY-MM-DD/part-00000.csv, one extract per day.
  --dir DIR            output directory (required)
  --from, --to DATE    first and last extract date (default: the 30 days before today)
  --customers N        customers to simulate (default 300000)
  --seed N             random seed (default 42)
  --malformed N        malformed lines to sprinkle in (default 25)
  --gzip               write .csv.gz`,
  run: `Usage: crm-metrics run --date YYYY-MM-DD --source DIR --dest DIR [--config FILE] [--allow-gaps]
       crm-metrics run --from YYYY-MM-DD --to YYYY-MM-DD --source DIR --dest DIR [--config FILE]

Reads SOURCE/transactions/dt=DATE/*, writes DEST/<table>/dt=DATE/data.parquet. One run per
destination at a time (a lease in DEST/_lock/; a killed run's runs out within 5 minutes), and none
while an earlier extract date in SOURCE has no published run in DEST.
  --date DATE          run date
  --from, --to DATE    backfill: one run per date, in order (stops at a refused date)
  --allow-gaps         run although an earlier extract date is not published (its orders are then
                       missing from the history the run scores)
  --source DIR         extract root (required; a directory or s3://bucket/prefix)
  --dest DIR           output root (required; a directory or s3://bucket/prefix)
  --config FILE        JSON config (column mapping, formats, segment rules); default: canonical columns
  --workgroup W, --database D
                       Athena workgroup and Glue database for the history queries (config
                       engine.history athena or auto; DEST must then be the tables' S3 location)
  --quiet              no progress lines
Exit codes: 0 success, 1 error, 3 no extract for a date, 4 refused: an earlier extract date is not
published, 5 refused: another run holds the destination's lock.`,
  slack: `Usage: crm-metrics slack "COMMAND" --dest DIR [--text] [--source DIR] [--config FILE]

Answers a /crm command from the output tables with the embedded engine and prints the Block Kit
message Slack would show (JSON), or with --text a plain-text rendering. Commands:
${Object.values(COMMAND_HELP).map((line) => `  ${line}`).join('\n')}
  --dest DIR           output root (required)
  --source DIR         extract root (needed by "run")
  --config FILE        JSON config (display locale and currency, and the run's settings)
  --text               plain text instead of Block Kit JSON
Exit codes: 0 answered, 1 error, 2 a command that could not be understood.`,
  query: `Usage: crm-metrics query --dest DIR "SQL"
       crm-metrics query --engine athena [--workgroup W] [--database D] "SQL"

Every output table is a view (dt is a column), and every snapshot table has a <table>_latest view
(the newest published run), locally as in Athena, e.g.
  crm-metrics query --dest out "select segment, customers from segment_summary where dt = date '2024-01-31'"
  crm-metrics query --engine athena "select segment, customers from segment_summary_latest"
  --engine E           local (default: the embedded engine over --dest) or athena (the deployed tables,
                       with the AWS credentials and region of the environment)
  --dest DIR           output root (required for the local engine)
  --workgroup W        Athena workgroup (default crm-metrics)
  --database D         Glue database (default crm_metrics)
  --format F           table (default), csv or json`,
};

const EXIT_MISSING_EXTRACT = 3;
const EXIT_EARLIER_UNPUBLISHED = 4;
const EXIT_LOCKED = 5;
const EXIT_BAD_COMMAND = 2;

function args<T extends ParseArgsConfig['options']>(argv: string[], options: T) {
  return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, allowPositionals: true });
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

class UsageError extends Error {
  override name = 'UsageError';
}

function printProgress(event: ProgressEvent): void {
  const rows = event.rows === undefined ? '' : ` rows=${event.rows}`;
  process.stderr.write(`  [${(event.elapsedMs / 1000).toFixed(1)}s] ${event.stage}${rows}\n`);
}

function summary(result: RunResult): string {
  if (result.status === 'missing_extract') return `${result.date}: no extract at ${result.extractLocation}`;
  return `${result.date}: ${result.status} — read ${result.rowsRead}, accepted ${result.rowsAccepted}, rejected ${result.rowsRejected}, duplicate ${result.rowsDuplicate}; ${result.customersScored} customers scored; report ${result.report}`;
}

async function run(argv: string[]): Promise<number> {
  const { values } = args(argv, {
    date: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    source: { type: 'string' },
    dest: { type: 'string' },
    config: { type: 'string' },
    quiet: { type: 'boolean' },
    workgroup: { type: 'string' },
    database: { type: 'string' },
    'allow-gaps': { type: 'boolean' },
  });
  if (values.help) return help('run');
  const dates = values.date ? [values.date] : datesBetween(required(values.from, 'from'), required(values.to, 'to'));
  const dest = storeFor(required(values.dest, 'dest'));
  const { workgroup: workGroup, database } = values;
  if (Boolean(workGroup) !== Boolean(database)) throw new UsageError('--workgroup and --database go together');
  const deps = {
    source: storeFor(required(values.source, 'source')),
    dest,
    ...(workGroup && database ? { remote: AthenaRemote.connect(workGroup, database, dest) } : {}),
    config: await loadConfig(values.config),
    openEngine: DuckDbEngine.open,
    ...(values.quiet ? {} : { onProgress: printProgress }),
    allowGaps: values['allow-gaps'] ?? false,
  };
  let missing = 0;
  for (const date of dates) {
    let result;
    try {
      result = await runNightly(date, deps);
    } catch (error) {
      // Refused, not failed: a backfill stops here, as every later date would be refused too. A
      // run that lost its lock midway has failed (exit 1), though LockLost is a DestinationLocked.
      if (!(error instanceof EarlierDatesUnpublished || error instanceof DestinationLocked) || error instanceof LockLost) throw error;
      console.error(`crm-metrics: ${error.name}: ${error.message}`);
      return error instanceof EarlierDatesUnpublished ? EXIT_EARLIER_UNPUBLISHED : EXIT_LOCKED;
    }
    if (result.status === 'missing_extract') missing++;
    console.log(summary(result));
  }
  return missing > 0 ? EXIT_MISSING_EXTRACT : 0;
}

async function generate(argv: string[]): Promise<number> {
  const { values } = args(argv, {
    dir: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    customers: { type: 'string' },
    seed: { type: 'string' },
    malformed: { type: 'string' },
    gzip: { type: 'boolean' },
  });
  if (values.help) return help('generate');
  const today = new Date().toISOString().slice(0, 10);
  const to = values.to ?? datesBetween(today, today, -1)[0]!;
  const from = values.from ?? datesBetween(to, to, -29)[0]!;
  const started = Date.now();
  const result = await generateExtracts({
    dir: required(values.dir, 'dir'),
    from,
    to,
    ...(values.customers ? { customers: Number(values.customers) } : {}),
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    ...(values.malformed ? { malformedRows: Number(values.malformed) } : {}),
    ...(values.gzip ? { gzip: true } : {}),
    onProgress: printProgress,
  });
  console.log(
    `generated ${result.transactions} transactions (${result.returns} returns) of ${result.customers} customers, ${from}..${to}, in ${result.files.length} files (${((Date.now() - started) / 1000).toFixed(1)}s)`,
  );
  return 0;
}

async function demo(argv: string[]): Promise<number> {
  const { values } = args(argv, { dir: { type: 'string' }, customers: { type: 'string' }, quiet: { type: 'boolean' } });
  if (values.help) return help('demo');
  const started = Date.now();
  const dir = values.dir ?? '.demo';
  const [source, dest] = [join(dir, 'source'), join(dir, 'out')];
  const customers = values.customers === undefined ? undefined : Number(values.customers);
  if (customers !== undefined && !(Number.isSafeInteger(customers) && customers > 0)) throw new UsageError(`--customers must be a positive integer, not "${values.customers}"`);
  const business = await generateBusiness({ dir: source, ...(customers ? { customers } : {}) });
  const config = businessConfig();
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'truth.json'), `${JSON.stringify(business.truth, null, 2)}\n`);
  console.log(
    `A fashion retailer: ${business.customers} customers, ${business.orders} orders and ${business.returns} returns since ${BUSINESS_DEFAULTS.historyFrom}; ` +
      `an initial load on ${business.extractDates[0]}, then ${business.extractDates.length - 1} daily extracts; from its CRM platform ` +
      `${business.crmRows.customers} profile rows, ${business.crmRows.crm_events} message events, ${business.crmRows.surveys} survey answers ` +
      `and ${business.crmRows.crm_costs} cost rows (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  await rm(dest, { recursive: true, force: true });
  const deps = { source: new LocalObjectStore(source), dest: new LocalObjectStore(dest), config: parseConfig(config), openEngine: DuckDbEngine.open };
  let last: RunResult | undefined;
  for (const date of business.extractDates) {
    last = await runNightly(date, deps);
    if (!values.quiet) console.log(summary(last));
  }
  const [result] = await queryLocal(dest, `SELECT incremental_revenue, ci_low, ci_high, verdict FROM holdout_results_latest WHERE ${GLOBAL_HOLDOUT_ROWS} AND "window" = 'since_start' AND segment = 'ALL'`);
  const truth = Object.entries(business.truth.incrementalByDay).reduce((sum, [day, amount]) => (day >= business.truth.programmeStart ? sum + amount : sum), 0);
  const eur = (v: unknown) => `EUR ${Math.round(Number(v)).toLocaleString('en-US')}`;
  const q = (text: string) => `  npx crm-metrics ${text}`;
  console.log(`
${business.extractDates.length} nights in ${((Date.now() - started) / 1000).toFixed(0)} s. The last night's report: ${last && 'report' in last ? last.report : '(none)'}

The CRM programme (since ${business.truth.programmeStart}, +${business.truth.crmEffect * 100} % purchase rate for treated customers) truly added ${eur(truth)};
the 95/5 holdout measured ${eur(result?.['incremental_revenue'])} (95 % CI ${eur(result?.['ci_low'])} to ${eur(result?.['ci_high'])}): ${String(result?.['verdict'])}.

Three questions to try:
${q(`slack "holdout" --dest ${dest} --text`)}
${q(`slack "segments" --dest ${dest} --text`)}
${q(`query --dest ${dest} "select segment, customers, round(share_of_monetary * 100, 1) as pct_of_value from segment_summary_latest order by customers desc"`)}`);
  return 0;
}

async function query(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {
    dest: { type: 'string' },
    format: { type: 'string' },
    engine: { type: 'string' },
    workgroup: { type: 'string' },
    database: { type: 'string' },
  });
  if (values.help) return help('query');
  const sql = positionals.join(' ').trim();
  if (!sql) throw new UsageError('a SQL statement is required');
  const engine = values.engine ?? 'local';
  let rows: SqlRow[];
  if (engine === 'athena') {
    const athena = new AthenaQueryClient({ workGroup: values.workgroup ?? 'crm-metrics', database: values.database ?? 'crm_metrics' });
    rows = await athena.query<SqlRow>(sql);
  } else if (engine === 'local') {
    rows = await queryLocal(required(values.dest, 'dest'), sql);
  } else {
    throw new UsageError(`--engine must be local or athena, not "${engine}"`);
  }
  const format = values.format ?? 'table';
  if (format === 'json') console.log(JSON.stringify(rows, null, 2));
  else console.log(formatTable(rows, format === 'csv' ? ',' : undefined));
  return 0;
}

async function queryLocal(dest: string, sql: string): Promise<SqlRow[]> {
  const engine = await DuckDbEngine.open();
  try {
    await registerTableViews(engine, dest);
    return await engine.query(sql);
  } finally {
    await engine.close();
  }
}

async function slack(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {
    dest: { type: 'string' },
    source: { type: 'string' },
    config: { type: 'string' },
    text: { type: 'boolean' },
  });
  if (values.help) return help('slack');
  const print = (message: SlackMessage) => console.log(values.text ? toPlainText(message) : JSON.stringify(message, null, 2));
  let command;
  try {
    command = parseCommand(positionals.join(' '));
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    print(notice(error.message));
    return EXIT_BAD_COMMAND;
  }
  const dest = required(values.dest, 'dest');
  const config = await loadConfig(values.config);
  const engine = await DuckDbEngine.open();
  try {
    await registerTableViews(engine, dest);
    print(
      await respond(command, {
        query: (sql, parameters) => engine.query(sql, parameters),
        display: config.display,
        reportLink: (date) => new LocalObjectStore(dest).link(reportKey(date)),
        defaultRunDate: () => shiftDate(new Date().toISOString().slice(0, 10), -1),
        run: (date, force) =>
          runUnlessPublished(date, force, {
            source: new LocalObjectStore(required(values.source, 'source')),
            dest: new LocalObjectStore(dest),
            config,
            openEngine: DuckDbEngine.open,
          }),
      }),
    );
  } finally {
    await engine.close();
  }
  return 0;
}

function help(command: keyof typeof HELP): number {
  console.log(HELP[command]);
  return 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { demo, run, generate, query, slack };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') return help('main');
  const handler = COMMANDS[command];
  try {
    if (!handler) throw new UsageError(`unknown command "${command}" (try --help)`);
    return await handler(rest);
  } catch (error) {
    // One line for the person at the terminal; the cause chain is in the message already.
    const message = error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
    console.error(`crm-metrics: ${message}`);
    return 1;
  }
}
