/**
 * Answers to the `/crm` questions, from the published tables. Each question is one or two SQL
 * statements with `?` placeholders, the same text for Athena (AWS) and the embedded engine (local):
 * what a user typed is only ever bound as a parameter. Numbers are cast to DOUBLE so that both
 * engines hand back plain numbers.
 */
import type { SqlParameter, SqlRow } from '../engine/sql-engine.js';
import type { StartOutcome } from '../orchestration/start-outcome.js';
import type { NightlyOutcome } from '../pipeline.js';
import { CAMPAIGN_RANKING } from '../tables/campaign-performance.js';
import { GLOBAL_HOLDOUT_ROWS, JUDGED_INTERVAL, JUDGED_ROI_INTERVAL } from '../tables/holdout-results.js';
import { GLOBAL_HOLDOUT } from '../holdout/assign-sql.js';
import { paybackSentence } from '../holdout/report.js';
import { COMMAND_HELP, type SlackCommand, type TopBy } from './commands.js';
import { context, divider, escape, formatter, header, section, slackMessage, tableSections, type Display, type SlackMessage } from './blocks.js';

/** Runs parameterized SQL on the output tables (Athena's client or the local engine). */
export type QueryRunner = (sql: string, parameters?: readonly SqlParameter[]) => Promise<SqlRow[]>;

export interface AnswerContext {
  query: QueryRunner;
  display: Display;
  /** A link to a run's HTML report, for people to open (a presigned URL on AWS). */
  reportLink?: (date: string) => Promise<string>;
}

export type Question = Exclude<SlackCommand, { name: 'run' }>;

/**
 * How a `run` ended: the night itself (one function, waited for), or, when the night is fanned out
 * on Step Functions, whether its execution started (it outlives the command; `status` shows it).
 */
export type RunOutcome = NightlyOutcome | StartOutcome;

export interface RespondContext extends AnswerContext {
  /** Runs (or starts) the night for a date (throws with the reason on failure). */
  run: (date: string, force: boolean) => Promise<RunOutcome>;
  /** The date `run` takes without one: yesterday in the schedule's time zone. */
  defaultRunDate: () => string;
}

/**
 * Errors (by name, which a Lambda's error payload keeps as errorType) that refuse a run before it
 * changes anything: an earlier extract date unpublished, another run holding the destination. Not
 * failures; a run that lost its lock midway (LockLost) is one.
 */
const REFUSALS = new Set(['EarlierDatesUnpublished', 'DestinationLocked']);

/** Any command to its answer: questions read the tables, `run` runs and reports how it ended. */
export async function respond(command: SlackCommand, ctx: RespondContext): Promise<SlackMessage> {
  if (command.name !== 'run') return answer(command, ctx);
  const date = command.date ?? ctx.defaultRunDate();
  try {
    return runMessage(await ctx.run(date, command.force), ctx.display);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    if (error instanceof Error && REFUSALS.has(error.name)) {
      return message(`The run for ${date} was not started: ${reason}`, [section(`:warning: The run for *${date}* was not started: ${escape(reason)}`)]);
    }
    return message(`The run for ${date} failed: ${reason}`, [section(`:x: The run for *${date}* failed: ${escape(reason)}`)]);
  }
}

export function runMessage(outcome: RunOutcome, display: Display): SlackMessage {
  const { date } = outcome;
  switch (outcome.status) {
    case 'already_published':
      return notice(`${date} is already published. Use "run ${date} --force" to run it again.`);
    case 'started':
      return message(`The run for ${date} started (execution ${outcome.name}). "status" shows it once published.`, [
        section(`:hourglass_flowing_sand: The run for *${date}* started (execution \`${escape(outcome.name)}\`). \`/crm status\` shows it once published.`),
      ]);
    case 'already_started':
      return notice(`The run for ${date} was already started (execution ${outcome.name}). Use "run ${date} --force" to run it again.`);
    case 'running':
      return notice(`A night is running (execution ${outcome.name}): the run for ${date} was not started. Try again when it has finished.`);
    case 'missing_extract':
      return message(`No extract for ${date}: nothing was published.`, [
        section(`:warning: No extract for *${date}* at \`${escape(outcome.extractLocation)}\`: nothing was published.`),
      ]);
  }
  const f = formatter(display);
  const text = `Run for ${date} ${outcome.status === 'succeeded' ? 'succeeded' : 'found an empty extract'}: ${f.number(outcome.rowsRead)} rows read, ${f.number(outcome.rowsAccepted)} accepted, ${f.number(outcome.rowsRejected)} rejected, ${f.number(outcome.rowsDuplicate)} duplicates; ${f.number(outcome.customersScored)} customers scored.`;
  return message(text, [section(`:white_check_mark: ${escape(text)}`)]);
}

/** The SQL of every question, by name: tests parse each as Trino and run it on the local engine. */
export const ANSWER_SQL = {
  latestRun: `SELECT CAST(max(dt) AS VARCHAR) AS dt FROM run_manifest`,
  status: `SELECT CAST(dt AS VARCHAR) AS dt, status, CAST(rows_read AS DOUBLE) AS rows_read,
      CAST(rows_rejected AS DOUBLE) AS rows_rejected, CAST(rows_duplicate AS DOUBLE) AS rows_duplicate,
      CAST(customers_scored AS DOUBLE) AS customers_scored,
      CAST(date_diff('millisecond', started_at, finished_at) AS DOUBLE) / 1000 AS seconds
    FROM run_manifest ORDER BY finished_at DESC LIMIT 7`,
  segments: `SELECT segment, grade, CAST(count(*) AS DOUBLE) AS customers, CAST(sum(monetary) AS DOUBLE) AS revenue,
      avg(clv) AS avg_clv
    FROM customer_scores WHERE dt = CAST(? AS DATE) GROUP BY segment, grade ORDER BY segment, grade`,
  migration: `SELECT coalesce(from_segment, '(new)') AS from_segment, coalesce(to_segment, '(gone)') AS to_segment,
      CAST(sum(customers) AS DOUBLE) AS customers, CAST(max(previous_dt) AS VARCHAR) AS previous_dt
    FROM segment_migration
    WHERE dt = CAST(? AS DATE) AND coalesce(from_segment, '') <> coalesce(to_segment, '')
    GROUP BY 1, 2 ORDER BY customers DESC, from_segment, to_segment LIMIT 10`,
  holdout: `SELECT "window", n_treatment, n_control, incremental_revenue, ${JUDGED_INTERVAL}, relative_lift,
      srm_flag, verdict
    FROM holdout_results WHERE dt = CAST(? AS DATE) AND ${GLOBAL_HOLDOUT_ROWS} AND segment = ? ORDER BY "window"`,
  roi: `SELECT holdout, "window", incremental_value, cost, roi, ${JUDGED_ROI_INTERVAL}
    FROM holdout_results WHERE dt = CAST(? AS DATE) AND segment = 'ALL' ORDER BY NOT (${GLOBAL_HOLDOUT_ROWS}), holdout, "window"`,
  holdoutSegments: `SELECT DISTINCT segment FROM holdout_results WHERE dt = CAST(? AS DATE) AND ${GLOBAL_HOLDOUT_ROWS} ORDER BY segment`,
  holdoutLeaks: `SELECT CAST(count(*) AS DOUBLE) AS leaks FROM holdout_leaks WHERE dt = CAST(? AS DATE) AND ${GLOBAL_HOLDOUT_ROWS}`,
  // The latest run's date is bound, not looked up inside the query: a constant `dt` lets Athena's
  // partition projection read one partition instead of listing every day.
  customer: `SELECT CAST(s.dt AS VARCHAR) AS dt, s.customer_id, s.recency_days, s.frequency, CAST(s.monetary AS DOUBLE) AS monetary,
      s.rfm_code, s.segment, s.grade, s.p_alive, s.p_purchase_30d, s.expected_purchases_90d, s.clv, h.holdout_group
    FROM customer_scores AS s
    LEFT JOIN holdout_assignment AS h ON h.customer_id = s.customer_id AND h.dt = s.dt
    WHERE s.dt = CAST(? AS DATE) AND s.customer_id = ?`,
  top: (by: TopBy, n: number) => {
    // `n` is an integer the parser bounded to 1..TOP_MAX and `by` picks one of three fixed orders:
    // nothing of the user's text reaches the SQL.
    const order = { clv: 'clv DESC NULLS LAST', revenue: 'monetary DESC', value: 'coalesce(clv, 0) + influence_value DESC' }[by];
    return `SELECT CAST(dt AS VARCHAR) AS dt, customer_id, segment, grade, CAST(monetary AS DOUBLE) AS revenue, clv,
        CAST(referred_customers AS DOUBLE) AS referred_customers, influence_value
      FROM customer_scores WHERE dt = CAST(? AS DATE) ORDER BY ${order}, customer_id LIMIT ${whole(n)}`;
  },
  campaigns: (n: number) => `SELECT CAST(dt AS VARCHAR) AS dt, campaign_id, channel, CAST(delivered AS DOUBLE) AS delivered, open_rate,
      click_through_rate, CAST(attributed_orders AS DOUBLE) AS attributed_orders, CAST(attributed_revenue AS DOUBLE) AS attributed_revenue,
      CAST(cost AS DOUBLE) AS cost
    FROM campaign_performance WHERE dt = CAST(? AS DATE) ORDER BY ${CAMPAIGN_RANKING} LIMIT ${whole(n)}`,
  nps: `SELECT CAST(period_start AS VARCHAR) AS period_start, segment, CAST(responses AS DOUBLE) AS responses, nps, nps_ci_low, nps_ci_high
    FROM survey_summary WHERE dt = CAST(? AS DATE) ORDER BY CASE WHEN segment = 'ALL' THEN 0 ELSE 1 END, responses DESC, segment`,
} as const;

/** A list length for a LIMIT: the parser bounds it; this makes sure no other text reaches the SQL. */
function whole(n: number): number {
  if (!Number.isInteger(n)) throw new Error(`a list length must be an integer, not ${n}`);
  return n;
}

const num = (row: SqlRow, column: string) => (row[column] === null || row[column] === undefined ? null : Number(row[column]));
const str = (row: SqlRow, column: string) => (row[column] === null || row[column] === undefined ? '' : String(row[column]));

function message(text: string, blocks: SlackMessage['blocks'], responseType: SlackMessage['response_type'] = 'in_channel'): SlackMessage {
  return slackMessage(text, blocks, responseType);
}

/** A one-block answer only the asker sees (nothing to show, or a question to fix). */
export function notice(text: string): SlackMessage {
  return message(text, [section(escape(text))], 'ephemeral');
}

async function latestRun(ctx: AnswerContext): Promise<string | undefined> {
  const [row] = await ctx.query(ANSWER_SQL.latestRun);
  return row?.['dt'] ? String(row['dt']) : undefined;
}

export async function answer(question: Question, ctx: AnswerContext): Promise<SlackMessage> {
  switch (question.name) {
    case 'help':
      return helpMessage();
    case 'status':
      return status(ctx);
    case 'segments':
      return segments(question.date ?? (await latestRun(ctx)), ctx);
    case 'holdout':
      return holdout(question.date ?? (await latestRun(ctx)), question.segment ?? 'ALL', ctx);
    case 'customer':
      return customer(question.id, ctx);
    case 'top':
      return top(question.n, question.by, ctx);
    case 'campaigns':
      return campaigns(question.n, ctx);
    case 'nps':
      return nps(question.date ?? (await latestRun(ctx)), ctx);
    case 'roi':
      return roi(question.date ?? (await latestRun(ctx)), ctx);
  }
}

export function helpMessage(): SlackMessage {
  // Each command as its parser documents it: "usage: what it answers".
  const lines = Object.entries(COMMAND_HELP)
    .filter(([name]) => name !== 'help')
    .map(([, help]) => {
      const [usage, ...what] = help.split(': ');
      return `\`/crm ${usage}\`: ${what.join(': ')}`;
    });
  return message('crm-metrics commands', [header('crm-metrics commands'), section(lines.join('\n'))], 'ephemeral');
}

async function status(ctx: AnswerContext): Promise<SlackMessage> {
  const rows = await ctx.query(ANSWER_SQL.status);
  if (!rows.length) return notice('No run has been published yet.');
  const f = formatter(ctx.display);
  const table = rows.map((r) => [
    str(r, 'dt'),
    str(r, 'status'),
    `${f.number(num(r, 'seconds'), 1)} s`,
    f.number(num(r, 'rows_read')),
    f.number(num(r, 'rows_rejected')),
    f.number(num(r, 'rows_duplicate')),
    f.number(num(r, 'customers_scored')),
  ]);
  const last = rows[0]!;
  const summary = `Last run ${str(last, 'dt')}: ${str(last, 'status')}, ${f.number(num(last, 'rows_read'))} rows read, ${f.number(num(last, 'rows_rejected'))} rejected.`;
  const link = ctx.reportLink ? await ctx.reportLink(str(last, 'dt')) : undefined;
  return message(summary, [
    header('Nightly runs'),
    section(escape(summary) + (link ? ` <${link}|Open the report for ${str(last, 'dt')}>` : '')),
    ...tableSections(['date', 'outcome', 'duration', 'rows', 'rejected', 'duplicates', 'customers'], table),
  ]);
}

async function segments(date: string | undefined, ctx: AnswerContext): Promise<SlackMessage> {
  const rows = date ? await ctx.query(ANSWER_SQL.segments, [date]) : [];
  if (!rows.length) return notice(date ? `No customer scores for ${date}.` : 'No run has been published yet.');
  const f = formatter(ctx.display);
  const moves = await ctx.query(ANSWER_SQL.migration, [date!]);
  const customers = rows.reduce((n, r) => n + num(r, 'customers')!, 0);
  const revenue = rows.reduce((n, r) => n + (num(r, 'revenue') ?? 0), 0);
  const table = rows.map((r) => [
    str(r, 'segment'),
    str(r, 'grade'),
    f.number(num(r, 'customers')),
    f.money(num(r, 'revenue')),
    f.money(num(r, 'avg_clv')),
  ]);
  const summary = `${f.number(customers)} customers on ${date}, net revenue ${f.money(revenue)}.`;
  const previous = moves.find((m) => m['previous_dt'])?.['previous_dt'];
  return message(summary, [
    header(`Segments on ${date}`),
    section(escape(summary)),
    ...tableSections(['segment', 'grade', 'customers', 'net revenue', 'avg CLV'], table),
    divider,
    section(
      moves.length
        ? `*Biggest moves since ${previous ? escape(String(previous)) : 'the previous run'}*\n` +
            moves.map((m) => `${escape(str(m, 'from_segment'))} → ${escape(str(m, 'to_segment'))}: ${f.number(num(m, 'customers'))}`).join('\n')
        : 'No customer changed segment since the previous run.',
    ),
  ]);
}

/** "+EUR 12,300 (95% CI 4,100 to 20,500), significant": the sentence a marketer reads. */
export function holdoutSentence(row: SqlRow, display: Display): string {
  const f = formatter(display);
  const verdict = str(row, 'verdict');
  if (verdict.startsWith('suppressed')) return verdict;
  const significance = verdict.startsWith('significant') ? 'significant' : `not significant (p = ${f.number(num(row, 'p_value'), 2)})`;
  const ci = `95% CI ${f.number(num(row, 'ci_low'))} to ${f.number(num(row, 'ci_high'))}`;
  return `${f.money(num(row, 'incremental_revenue'), true)} (${ci}), ${significance}`;
}

async function holdout(date: string | undefined, segment: string, ctx: AnswerContext): Promise<SlackMessage> {
  if (!date) return notice('No run has been published yet.');
  const rows = await ctx.query(ANSWER_SQL.holdout, [date, segment]);
  if (!rows.length) {
    const known = (await ctx.query(ANSWER_SQL.holdoutSegments, [date])).map((r) => str(r, 'segment'));
    return notice(
      known.length
        ? `No holdout result for segment "${segment}" on ${date}. Segments: ${known.join(', ')}.`
        : `No holdout results for ${date}.`,
    );
  }
  const f = formatter(ctx.display);
  const label = segment === 'ALL' ? 'all customers' : segment;
  const lines = rows.map((r) => {
    const srm = r['srm_flag'] === true ? ' ⚠️ group sizes differ from the configured split: distrust this row.' : '';
    return `*${escape(str(r, 'window').replace(/_/g, ' '))}*: ${escape(holdoutSentence(r, ctx.display))}.${srm}`;
  });
  const sizes = rows.map((r) => `${escape(str(r, 'window').replace(/_/g, ' '))}: ${f.number(num(r, 'n_treatment'))} treated, ${f.number(num(r, 'n_control'))} control`);
  const text = `Incremental revenue from CRM (${label}, ${date}): ${holdoutSentence(rows[0]!, ctx.display)}`;
  const [leakRow] = await ctx.query(ANSWER_SQL.holdoutLeaks, [date]);
  const leaks = (leakRow && num(leakRow, 'leaks')) ?? 0;
  return message(text, [
    header(`Holdout: ${label}, ${date}`),
    section(lines.join('\n')),
    ...(leaks > 0
      ? [section(`:warning: ${f.number(leaks)} control customer${leaks === 1 ? ' was' : 's were'} sent CRM messages anyway (\`holdout_leaks\`): the exclusion list was not honoured, which pulls the estimate towards zero.`)]
      : []),
    context(`${sizes.join(' · ')}. Incremental revenue = (revenue per treated − revenue per control customer) × treated customers.`),
  ]);
}

/** One customer's scores: shown to the asker only (customer-level data stays out of the channel). */
async function customer(id: string, ctx: AnswerContext): Promise<SlackMessage> {
  const date = await latestRun(ctx);
  const [row] = date ? await ctx.query(ANSWER_SQL.customer, [date, id]) : [];
  if (!row) return notice(`No customer "${id}" in the latest scores.`);
  const f = formatter(ctx.display);
  const group = row['holdout_group'] ? str(row, 'holdout_group') : 'not assigned';
  const text = `Customer ${str(row, 'customer_id')}: ${str(row, 'segment')}, grade ${str(row, 'grade')}, CLV ${f.money(num(row, 'clv'))}`;
  const details = section(`*${escape(str(row, 'segment'))}*, grade *${escape(str(row, 'grade'))}* (RFM ${escape(str(row, 'rfm_code'))}) as of ${escape(str(row, 'dt'))}`, [
    `*Last purchase*\n${f.number(num(row, 'recency_days'))} days ago`,
    `*Orders*\n${f.number(num(row, 'frequency'))}`,
    `*Net spend*\n${f.money(num(row, 'monetary'))}`,
    `*CLV (12 months)*\n${f.money(num(row, 'clv'))}`,
    `*Probability alive*\n${f.percent(num(row, 'p_alive'))}`,
    `*Buys in the next 30 days*\n${f.percent(num(row, 'p_purchase_30d'))}`,
    `*Expected orders, 90 days*\n${f.number(num(row, 'expected_purchases_90d'), 2)}`,
    `*Holdout group*\n${escape(group)}`,
  ]);
  return message(text, [header(`Customer ${str(row, 'customer_id')}`), details], 'ephemeral');
}

/** The most valuable customers: to the asker only, as customer-level data. */
async function top(n: number, by: TopBy, ctx: AnswerContext): Promise<SlackMessage> {
  const date = await latestRun(ctx);
  const rows = date ? await ctx.query(ANSWER_SQL.top(by, n), [date]) : [];
  if (!rows.length) return notice('No run has been published yet.');
  const f = formatter(ctx.display);
  const table = rows.map((r, i) => [
    String(i + 1),
    str(r, 'customer_id'),
    str(r, 'segment'),
    str(r, 'grade'),
    f.money(num(r, 'revenue')),
    f.money(num(r, 'clv')),
    ...(by === 'value' ? [f.number(num(r, 'referred_customers')), f.money(num(r, 'influence_value'))] : []),
  ]);
  const ranking = { clv: 'CLV', revenue: 'net revenue', value: 'CLV plus value through referrals' }[by];
  const text = `Top ${rows.length} customers by ${ranking} on ${str(rows[0]!, 'dt')}`;
  const columns = ['#', 'customer', 'segment', 'grade', 'net revenue', 'CLV', ...(by === 'value' ? ['referred', 'influence'] : [])];
  return message(text, [header(text), ...tableSections(columns, table)], 'ephemeral');
}

/** The campaigns that earned the most (campaign_performance: last-touch attribution). */
async function campaigns(n: number, ctx: AnswerContext): Promise<SlackMessage> {
  const date = await latestRun(ctx);
  const rows = date ? await ctx.query(ANSWER_SQL.campaigns(n), [date]) : [];
  if (!rows.length) return notice(date ? `No CRM campaigns in the run of ${date}: the CRM platform has delivered no messages yet.` : 'No run has been published yet.');
  const f = formatter(ctx.display);
  const table = rows.map((r) => [
    str(r, 'campaign_id'),
    str(r, 'channel'),
    f.number(num(r, 'delivered')),
    f.percent(num(r, 'open_rate')),
    f.percent(num(r, 'click_through_rate')),
    f.number(num(r, 'attributed_orders')),
    f.money(num(r, 'attributed_revenue')),
    f.money(num(r, 'cost')),
  ]);
  const text = `Top ${rows.length} campaigns by attributed revenue on ${str(rows[0]!, 'dt')}`;
  return message(text, [
    header(text),
    ...tableSections(['campaign', 'channel', 'delivered', 'open rate', 'CTR', 'orders', 'revenue', 'cost'], table),
    context('An order is attributed to the last click on a CRM message in the 7 days before it, else the last open in the day before (attribution.click_days, open_days); each order to one message.'),
  ]);
}

/** "NPS 32 (95% CI 25 to 39) from 1,204 answers": overall, then per segment. */
async function nps(date: string | undefined, ctx: AnswerContext): Promise<SlackMessage> {
  const rows = date ? await ctx.query(ANSWER_SQL.nps, [date]) : [];
  if (!rows.length) return notice(date ? `No survey answers in the KPI period of the run of ${date}.` : 'No run has been published yet.');
  const f = formatter(ctx.display);
  const sentence = (r: SqlRow) =>
    num(r, 'nps') === null
      ? 'no answers'
      : `${f.number(num(r, 'nps'), 1)} (95% CI ${f.number(num(r, 'nps_ci_low'), 1)} to ${f.number(num(r, 'nps_ci_high'), 1)}) from ${f.number(num(r, 'responses'))} answers`;
  const [all, ...segments] = rows[0]!['segment'] === 'ALL' ? rows : [undefined, ...rows];
  const text = `NPS ${date}, answers since ${str(rows[0]!, 'period_start')}: ${all ? sentence(all) : 'no answers'}`;
  return message(text, [
    header(`NPS on ${date}`),
    section(escape(text)),
    ...(segments.length ? [section(segments.map((r) => `*${escape(str(r!, 'segment'))}*: ${escape(sentence(r!))}`).join('\n'))] : []),
    context('NPS = % promoters (9–10) − % detractors (0–6), in points; the interval uses the multinomial variance.'),
  ]);
}

async function roi(date: string | undefined, ctx: AnswerContext): Promise<SlackMessage> {
  const rows = date ? await ctx.query(ANSWER_SQL.roi, [date]) : [];
  if (!rows.length) return notice(date ? `No holdout results for ${date}.` : 'No run has been published yet.');
  const f = formatter(ctx.display);
  const sentence = (r: SqlRow) =>
    paybackSentence({ roi: num(r, 'roi'), roiCiLow: num(r, 'roi_ci_low'), roiCiHigh: num(r, 'roi_ci_high'), value: num(r, 'incremental_value'), cost: num(r, 'cost'), holdout: str(r, 'holdout') }, (v, digits) => f.money(v, false, digits));
  const global = rows.filter((r) => str(r, 'holdout') === GLOBAL_HOLDOUT);
  const label = (r: SqlRow) => [str(r, 'holdout') === GLOBAL_HOLDOUT ? '' : `${str(r, 'holdout')}, `, str(r, 'window').replace(/_/g, ' ')].join('');
  const lines = rows.map((r) => `*${escape(label(r))}*: ${escape(sentence(r))}.`);
  // The global holdout's since_start sorts last of its rows: the programme's whole return.
  return message(`Return on CRM (${date}): ${sentence((global.at(-1) ?? rows[0])!)}`, [
    header(`Return on CRM on ${date}`),
    section(lines.join('\n')),
    context(`Value = margin × incremental revenue + incremental customer equity (CLV), against the holdout; cost = crm_costs + roi.fixed_cost_per_day.${rows.length > global.length ? ' A channel\'s rows: its own holdout within the treated, against its own crm_costs.' : ''}`),
  ]);
}
