/**
 * The run report as one self-contained HTML document: data in, a string out (pure, no I/O).
 *
 * Marketing leads open it from a file on a laptop, possibly offline, so it fetches nothing: inline
 * CSS, inline SVG charts (./charts.ts), no script, and a Content-Security-Policy that would block a
 * stray external reference anyway. Every array may be empty (first run, no holdout yet): a section
 * then says what is not available yet instead of drawing an empty or NaN chart.
 */
import {
  barChart,
  escapeHtml as esc,
  forestPlot,
  heatmap,
  histogram,
  isFiniteNumber,
  lineChart,
  stepDigits,
  OKABE_ITO,
  type Format,
  type ForestRow,
  type Marker,
} from './charts.js';
import { GLOBAL_HOLDOUT } from '../holdout/assign-sql.js';
import { paybackSentence } from '../holdout/report.js';

export interface ReportData {
  /** Run date, YYYY-MM-DD. */
  date: string;
  /** Locale and ISO 4217 currency of every number shown. */
  display: { locale: string; currency: string };
  run: { status: string; rowsRead: number; rowsAccepted: number; rowsRejected: number; rowsDuplicate: number; customersScored: number; seconds: number };
  /** Segment sizes and value, in the order to show them. */
  segments: { segment: string; customers: number; monetary: number; avgClv: number | null }[];
  /** Previous run → this run by segment; `from` null = new customers, `to` null = no longer scored. */
  migration: { from: string | null; to: string | null; customers: number }[];
  /** The run `migration` compares against. */
  previousDate: string | null;
  /** CLV distribution buckets, ascending. */
  clvHistogram: { low: number; high: number; customers: number }[];
  /** Predicted vs actual mean repeat purchases in the holdout period per calibration-frequency bucket ("0".."6", "7+"). */
  calibration: { bucket: string; customers: number; predicted: number; actual: number }[];
  calibrationModel: string | null;
  /** The model over time (`model_tracking`): cumulative repeat purchase days, actual and expected, per day. */
  tracking: { day: string; actual: number; expected: number }[];
  calibrationEnd: string | null;
  holdoutDays: number | null;
  /** Incremental revenue of CRM per holdout ("global" or a channel), window ("last_30_days", "since_start") and segment ("ALL" or a name). */
  holdout: {
    holdout: string;
    window: string;
    segment: string;
    incremental: number | null;
    ciLow: number | null;
    ciHigh: number | null;
    pValue: number | null;
    verdict: string;
    nTreatment: number;
    nControl: number;
    /** The programme's return (ALL rows; NULL elsewhere): incremental value, cost, ROI and its CI. */
    value: number | null;
    cost: number | null;
    roi: number | null;
    roiCiLow: number | null;
    roiCiHigh: number | null;
  }[];
  /** The since-start estimate night by night (`holdout_daily`), with its confidence sequence. */
  holdoutDaily: { night: string; incremental: number | null; seqLow: number | null; seqHigh: number | null }[];
  /** Control customers the CRM platform messaged anyway (`holdout_leaks`). */
  holdoutLeaks: number;
  /** KPIs of channel ALL over the last runs, long format. */
  kpiTrend: { date: string; metric: string; value: number | null }[];
  /** Return on Customer, period "1d"/"30d", segment "ALL" or a name. */
  roc: { period: string; segment: string; equityStart: number | null; cashFlow: number | null; equityChange: number | null; roc: number | null }[];
  /** Segment ALL forecasts whose horizon has passed, beside what happened. */
  forecastAccuracy: { forecastDate: string; horizonDays: number; expected: number | null; actual: number | null }[];
  /** crm_channel_kpi: the KPI period's figures per CRM channel, "ALL" last; empty without CRM data. */
  crmChannels: {
    channel: string;
    delivered: number | null;
    openRate: number | null;
    clickThroughRate: number | null;
    unsubscribeRate: number | null;
    consented: number | null;
    attributedRevenue: number | null;
    revenueShare: number | null;
    cost: number | null;
  }[];
  /** The campaigns with the most attributed revenue (campaign_performance), best first. */
  campaigns: { campaign: string; channel: string; delivered: number; openRate: number | null; clickThroughRate: number | null; attributedOrders: number; attributedRevenue: number; cost: number }[];
  /** survey_summary: NPS per segment and ALL over the KPI period. */
  nps: { segment: string; responses: number; nps: number | null; ciLow: number | null; ciHigh: number | null }[];
  /** referral_value: totals, and the referrers with the most influence value, with their own CLV. */
  referrals: { referrers: number; referred: number; influence: number; top: { customer: string; referred: number; referredRevenue: number; influence: number; ownClv: number | null }[] };
}

// Natural widths of the charts (px): a full-width chart fills the ~1100 px content column of the
// layout below; "cards" are laid out 3 or 2 per row by CSS grid on a laptop screen.
const FULL = 1100;
const CARD = 350;
const HALF = 540;

const ALL_LABEL = 'All customers';
/** Parenthesised so that they cannot be mistaken for a segment (the default map has one named "New"). */
const NEW_LABEL = '(new)';
const GONE_LABEL = '(gone)';

/** The KPI charts' order; other metrics follow alphabetically. */
const KPI_ORDER = ['active_customers', 'revenue', 'average_order_value', 'retention_rate', 'repeat_purchase_rate', 'return_rate'];

/** Locale-aware number formatting; anything non-finite prints "–" (never "NaN" or "Infinity"). */
function formatters(display: ReportData['display']) {
  const cache = new Map<string, Intl.NumberFormat>();
  const nf = (options: Intl.NumberFormatOptions) => {
    const key = JSON.stringify(options);
    let format = cache.get(key);
    if (!format) cache.set(key, (format = new Intl.NumberFormat(display.locale, options)));
    return format;
  };
  const or = (v: number | null | undefined, render: (n: number) => string) => (isFiniteNumber(v) ? render(v) : '–');
  const money = { style: 'currency', currency: display.currency, minimumFractionDigits: 0, maximumFractionDigits: 0 } as const;
  const dates = new Intl.DateTimeFormat(display.locale, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const months = new Intl.DateTimeFormat(display.locale, { month: 'short', year: 'numeric', timeZone: 'UTC' });
  return {
    money: (v: number | null | undefined, signed = false, digits = 0) =>
      or(v, (n) => nf({ ...money, minimumFractionDigits: digits, maximumFractionDigits: digits, signDisplay: signed ? 'exceptZero' : 'auto' }).format(n)),
    /** Axis ticks: "€12K", "€62.5K". */
    moneyShort: (v: number) => nf({ style: 'currency', currency: display.currency, notation: 'compact', minimumFractionDigits: 0, maximumFractionDigits: 1 }).format(v),
    number: (v: number | null | undefined, digits = 0, signed = false) =>
      or(v, (n) => nf({ minimumFractionDigits: digits, maximumFractionDigits: digits, signDisplay: signed ? 'exceptZero' : 'auto' }).format(n)),
    numberShort: (v: number) => nf({ notation: 'compact', minimumFractionDigits: 0, maximumFractionDigits: 1 }).format(v),
    /** Axis ticks of rates: as many decimals as the tick step needs ("38.2%", "38.4%" rather than "38%", "38%"). */
    percentTick: (v: number, step?: number) => nf({ style: 'percent', maximumFractionDigits: step ? stepDigits(step * 100) : 0 }).format(v),
    percent: (v: number | null | undefined, digits = 1, signed = false) =>
      or(v, (n) => nf({ style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits, signDisplay: signed ? 'exceptZero' : 'auto' }).format(n)),
    /** "Jan 30" for axes; unparseable dates are shown as given. */
    shortDate: (iso: string) => {
      const d = new Date(`${iso}T00:00:00Z`);
      return Number.isNaN(d.getTime()) ? iso : dates.format(d);
    },
    /** "Jan 2024" for axes over years. */
    month: (iso: string) => {
      const d = new Date(`${iso}T00:00:00Z`);
      return Number.isNaN(d.getTime()) ? iso : months.format(d);
    },
  };
}
type Formatters = ReturnType<typeof formatters>;

const sum = (values: readonly number[]) => values.reduce((a, b) => a + (isFiniteNumber(b) ? b : 0), 0);
const share = (part: number, whole: number) => (whole > 0 ? part / whole : null);
const unique = <T>(values: readonly T[]) => [...new Set(values)];
/** "last_30_days" → "Last 30 days", "average_order_value" → "Average order value". */
const humanize = (name: string) => name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, ' ');

// --- HTML building blocks -------------------------------------------------------------------------

/** A section: heading, one line saying what it shows, then its content. Both are HTML: callers escape data in them. */
function section(id: string, title: string, explanation: string, content: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${esc(title)}</h2><p class="lead">${explanation}</p>${content}</section>`;
}

function notAvailable(reason: string): string {
  return `<p class="na">Not available yet: ${esc(reason)}</p>`;
}

/** A table of plain strings (escaped here); `numeric` columns are right-aligned with tabular figures. */
function table(caption: string, head: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[]): string {
  const cls = (i: number) => (numeric[i] ? ' class="num"' : '');
  return (
    `<div class="table-wrap"><table><caption>${esc(caption)}</caption><thead><tr>${head.map((h, i) => `<th scope="col"${cls(i)}>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((row) => `<tr>${row.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td${cls(i)}>${esc(c)}</td>`)).join('')}</tr>`).join('')}</tbody></table></div>`
  );
}

/** Numbers behind a chart, collapsed so that the page stays short. */
const numbers = (content: string) => `<details><summary>Show the numbers</summary>${content}</details>`;

const figure = (chart: string, heading?: string, note?: string) =>
  `<figure>${heading ? `<h3>${esc(heading)}</h3>` : ''}${note ? `<p class="note">${note}</p>` : ''}${chart}</figure>`;

/** Segments in the pipeline's order, then names only found elsewhere (ALL is shown first, not here). */
function segmentOrder(data: ReportData, others: readonly (string | null)[]): string[] {
  return unique([...data.segments.map((s) => s.segment), ...others.filter((s): s is string => s !== null && s !== 'ALL')]);
}

/** ALL first, then the segment order. */
function bySegment<T extends { segment: string }>(rows: readonly T[], order: readonly string[]): T[] {
  const rank = (s: string) => (s === 'ALL' ? -1 : order.indexOf(s));
  return [...rows].sort((a, b) => rank(a.segment) - rank(b.segment));
}
const segmentLabel = (segment: string) => (segment === 'ALL' ? ALL_LABEL : segment);

// --- sections -------------------------------------------------------------------------------------

function runSummary(data: ReportData, f: Formatters): string {
  const { run } = data;
  const status = run.status.toLowerCase();
  const tone = /fail|error/.test(status) ? 'bad' : /warn|partial|skip/.test(status) ? 'warn' : 'good';
  const ofRead = (n: number) => (run.rowsRead > 0 ? ` (${f.percent(share(n, run.rowsRead), 1)} of read)` : '');
  const duration = run.seconds >= 120 ? `${f.number(run.seconds / 60, 1)} min` : `${f.number(run.seconds, 1)} s`;
  const tiles: [string, string, string?][] = [
    ['Status', `<span class="badge ${tone}">${esc(run.status)}</span>`],
    ['Rows read', esc(f.number(run.rowsRead))],
    ['Rows accepted', esc(f.number(run.rowsAccepted)), ofRead(run.rowsAccepted)],
    ['Rows rejected', esc(f.number(run.rowsRejected)), ofRead(run.rowsRejected)],
    ['Duplicate rows', esc(f.number(run.rowsDuplicate)), ofRead(run.rowsDuplicate)],
    ['Customers scored', esc(f.number(run.customersScored))],
    ['Run time', esc(duration)],
  ];
  const content = `<dl class="tiles">${tiles.map(([k, v, sub]) => `<div><dt>${esc(k)}</dt><dd>${v}${sub ? `<small>${esc(sub)}</small>` : ''}</dd></div>`).join('')}</dl>`;
  return section('run', 'Run summary', 'How many source rows this run read, kept and rejected, and how many customers it scored.', content);
}

function segmentSection(data: ReportData, f: Formatters): string {
  const explanation = 'How many customers each RFM segment holds, their net revenue (purchases minus returns) and their average predicted customer lifetime value (CLV).';
  if (data.segments.length === 0) return section('segments', 'Segment sizes and value', explanation, notAvailable('no customers were scored in this run.'));
  const customers = sum(data.segments.map((s) => s.customers));
  const revenue = sum(data.segments.map((s) => s.monetary));
  const rows = (value: (s: ReportData['segments'][number]) => number | null, label: (s: ReportData['segments'][number]) => string) =>
    data.segments.map((s) => ({ label: s.segment, value: value(s), valueLabel: label(s) }));
  const charts = [
    barChart({ title: 'Customers by segment', rows: rows((s) => s.customers, (s) => `${f.number(s.customers)} (${f.percent(share(s.customers, customers), 0)})`), format: f.number, color: OKABE_ITO.blue, width: CARD }),
    barChart({ title: 'Net revenue by segment', rows: rows((s) => s.monetary, (s) => f.money(s.monetary)), format: (v) => f.money(v), color: OKABE_ITO.green, width: CARD }),
    barChart({ title: 'Average CLV by segment', rows: rows((s) => s.avgClv, (s) => f.money(s.avgClv)), format: (v) => f.money(v), color: OKABE_ITO.orange, width: CARD }),
  ];
  const headings = ['Customers', 'Net revenue', 'Average CLV'];
  const tableRows = data.segments.map((s) => [
    s.segment,
    f.number(s.customers),
    f.percent(share(s.customers, customers)),
    f.money(s.monetary),
    f.percent(share(s.monetary, revenue)),
    f.money(s.avgClv),
  ]);
  tableRows.push(['Total', f.number(customers), f.percent(customers > 0 ? 1 : null), f.money(revenue), f.percent(revenue !== 0 ? 1 : null), '']);
  const content =
    `<div class="grid">${charts.map((c, i) => figure(c, headings[i])).join('')}</div>` +
    numbers(table('Segments', ['Segment', 'Customers', 'Share', 'Net revenue', 'Share', 'Average CLV'], tableRows, [false, true, true, true, true, true]));
  return section('segments', 'Segment sizes and value', explanation, content);
}

function migrationSection(data: ReportData, f: Formatters): string {
  const since = data.previousDate ? `the previous run (${esc(data.previousDate)})` : 'the previous run';
  const explanation = `Where the customers of each segment in ${since} are now: rows are the previous segment, columns the current one; darker cells hold more customers, the numbers are exact. ${NEW_LABEL} = not scored before, ${GONE_LABEL} = no longer scored.`;
  const total = sum(data.migration.map((m) => m.customers));
  if (data.migration.length === 0 || total <= 0) return section('migration', 'Segment migration', explanation, notAvailable('segment migration needs a previous run to compare with.'));
  const order = segmentOrder(data, data.migration.flatMap((m) => [m.from, m.to]));
  // Keys keep "(new)"/"(gone)" apart from any segment of the same name.
  const rowKeys = [...order.map((s) => `s:${s}`), 'new'];
  const colKeys = [...order.map((s) => `s:${s}`), 'gone'];
  const counts = new Map<string, number>();
  for (const m of data.migration) {
    const key = `${m.from === null ? 'new' : `s:${m.from}`}|${m.to === null ? 'gone' : `s:${m.to}`}`;
    counts.set(key, (counts.get(key) ?? 0) + (isFiniteNumber(m.customers) ? m.customers : 0));
  }
  const values = rowKeys.map((rk) => colKeys.map((ck) => counts.get(`${rk}|${ck}`) ?? 0));
  const rowLabels = [...order, NEW_LABEL];
  const colLabels = [...order, GONE_LABEL];
  const rowTotals = values.map((row) => sum(row));
  const chart = heatmap({
    title: `Segment migration since ${data.previousDate ?? 'the previous run'}`,
    rows: rowLabels,
    cols: colLabels,
    values,
    format: f.number,
    rowTitle: 'Previous segment',
    colTitle: 'Current segment',
    describe: (i, j) => `${rowLabels[i]} → ${colLabels[j]}: ${f.number(values[i]![j])} customers (${f.percent(share(values[i]![j]!, rowTotals[i]!))} of ${rowLabels[i]})`,
    width: FULL,
  });
  const stayed = sum(order.map((_, i) => values[i]![i]!));
  const previous = sum(rowTotals.slice(0, order.length));
  const note = `${esc(f.percent(share(stayed, previous)))} of previously scored customers stayed in their segment.`;
  return section('migration', 'Segment migration', explanation, figure(chart, undefined, note));
}

function clvSection(data: ReportData, f: Formatters): string {
  const explanation = 'How predicted customer lifetime value (CLV) is spread across customers; the last bucket holds the long tail.';
  const bins = data.clvHistogram.filter((b) => isFiniteNumber(b.customers));
  if (bins.length === 0 || sum(bins.map((b) => b.customers)) <= 0)
    return section('clv', 'CLV distribution', explanation, notAvailable('no CLV model has converged yet, so no customer has a CLV.'));
  const chart = histogram({
    title: 'Customers by predicted CLV',
    bins: bins.map((b) => ({ low: b.low, high: b.high, value: b.customers })),
    // Exact edges: compact ones ("€1.1K") would repeat for neighbouring buckets.
    formatEdge: (v) => f.money(v),
    formatValue: f.numberShort,
    formatExact: (v) => f.number(v),
    xTitle: `Predicted CLV (${data.display.currency})`,
    yTitle: 'Customers',
    color: OKABE_ITO.blue,
    width: FULL,
  });
  const rows = bins.map((b) => [`${f.money(b.low)} – ${f.money(b.high)}`, f.number(b.customers)]);
  return section('clv', 'CLV distribution', explanation, figure(chart) + numbers(table('CLV buckets', ['Predicted CLV', 'Customers'], rows, [false, true])));
}

function calibrationSection(data: ReportData, f: Formatters): string {
  const period = isFiniteNumber(data.holdoutDays) ? `the ${f.number(data.holdoutDays)} days after ${data.calibrationEnd ?? 'calibration'}` : 'the holdout period';
  const explanation = `Model check: customers grouped by repeat purchases before the calibration end; the model's predicted mean repeat purchases in ${esc(period)} against what they actually bought. Close lines mean a well-calibrated model.`;
  if (data.calibration.length === 0) return section('calibration', 'Model calibration', explanation, notAvailable('the model is validated once there is enough history for a holdout period.'));
  const digits = (v: number) => f.number(v, 2);
  const chart = lineChart({
    title: `Predicted vs actual repeat purchases${data.calibrationModel ? ` (${data.calibrationModel})` : ''}`,
    x: data.calibration.map((c) => c.bucket),
    series: [
      { name: 'Actual', values: data.calibration.map((c) => c.actual), color: OKABE_ITO.blue, marker: 'circle' },
      { name: 'Predicted', values: data.calibration.map((c) => c.predicted), color: OKABE_ITO.orange, marker: 'square', dash: '6 4' },
    ],
    format: (v, step) => f.number(v, step ? stepDigits(step) : 2),
    xTitle: 'Repeat purchases in the calibration period',
    zero: true,
    width: HALF,
    height: 300,
  });
  const rows = data.calibration.map((c) => [c.bucket, f.number(c.customers), digits(c.predicted), digits(c.actual), f.number(c.predicted - c.actual, 2, true)]);
  const model = data.calibrationModel ? `Model: ${esc(data.calibrationModel)}${data.calibrationEnd ? `, calibrated up to ${esc(data.calibrationEnd)}` : ''}.` : undefined;
  const content = `<div class="grid two">${figure(chart, undefined, model)}${table('Mean repeat purchases per bucket', ['Bucket', 'Customers', 'Predicted', 'Actual', 'Predicted − actual'], rows, [false, true, true, true, true])}</div>`;
  return section('calibration', 'Model calibration', explanation, content + trackingPlot(data, f));
}

/** CLVTools' tracking plot: the calibration cohort's cumulative repeat purchases, actual and expected, the calibration end marked. */
function trackingPlot(data: ReportData, f: Formatters): string {
  if (data.tracking.length < 2) return '';
  const end = data.calibrationEnd ? data.tracking.findIndex((t) => t.day > data.calibrationEnd!) - 1 : -1;
  const chart = lineChart({
    title: 'Cumulative repeat purchases, actual and expected',
    // Over more than a year, a day without its year is ambiguous.
    x: data.tracking.map((t) => (data.tracking.length > 366 ? f.month(t.day) : f.shortDate(t.day))),
    series: [
      { name: 'Actual', values: data.tracking.map((t) => t.actual), color: OKABE_ITO.blue },
      { name: 'Expected', values: data.tracking.map((t) => t.expected), color: OKABE_ITO.orange, dash: '6 4' },
    ],
    format: f.numberShort,
    zero: true,
    ...(end >= 0 ? { mark: { at: end, label: 'calibration end' } } : {}),
    xTitle: 'Customers who bought by the calibration end; after it, the model forecasts',
    width: FULL,
  });
  return figure(chart, 'Tracking: the model over time');
}

/** Colour, shape and fill per verdict: shape and the printed verdict repeat what the colour says. */
function verdictStyle(verdict: string): { color: string; marker: Marker; hollow: boolean } {
  const v = verdict.toLowerCase();
  if (v.startsWith('significant gain')) return { color: OKABE_ITO.green, marker: 'circle', hollow: false };
  if (v.startsWith('significant loss')) return { color: OKABE_ITO.vermillion, marker: 'diamond', hollow: false };
  if (v.startsWith('suppressed')) return { color: '#8c959f', marker: 'none', hollow: false };
  return { color: '#57606a', marker: 'circle', hollow: true };
}

function holdoutSection(data: ReportData, f: Formatters): string {
  const explanation =
    'Incremental revenue from CRM: customers who receive CRM against the 5 % holdout who do not, with 95 % confidence intervals. An interval that crosses the zero line is inconclusive. Since the start, read every night, the interval is one that stays valid however often it is read (a confidence sequence): wider, but a verdict there is not luck of the day.';
  const global = data.holdout.filter((h) => h.holdout === GLOBAL_HOLDOUT);
  if (global.length === 0) return section('holdout', 'Holdout: incremental revenue', explanation, notAvailable('the holdout has no results yet (it needs customers in both groups).'));
  const order = segmentOrder(data, global.map((h) => h.segment));
  // Hidden from screen readers: each chart row states its verdict in words already.
  const key = (verdict: string, symbol: string, text: string) => `<span style="color:${verdictStyle(verdict).color}">${symbol}</span> ${text}`;
  const legend = `<p class="legend" aria-hidden="true">${[
    key('significant gain', '●', 'significant gain'),
    key('significant loss', '◆', 'significant loss'),
    key('inconclusive', '○', 'inconclusive'),
    key('suppressed', '–', 'suppressed (too few customers or buyers)'),
  ].join(' ')}</p>`;
  const charts = unique(global.map((h) => h.window)).map((window) => {
    const rows: ForestRow[] = bySegment(
      global.filter((h) => h.window === window),
      order,
    ).map((h) => {
      const ci = isFiniteNumber(h.ciLow) && isFiniteNumber(h.ciHigh) ? ` (${f.money(h.ciLow)} to ${f.money(h.ciHigh)})` : '';
      return { label: segmentLabel(h.segment), estimate: h.incremental, low: h.ciLow, high: h.ciHigh, ...verdictStyle(h.verdict), estimateText: `${f.money(h.incremental, true)}${ci}`, verdictText: h.verdict };
    });
    const chart = forestPlot({
      title: `Incremental revenue, ${humanize(window).toLowerCase()}`,
      rows,
      formatTick: f.moneyShort,
      xTitle: `Incremental revenue (${data.display.currency}); the line at 0 means no effect`,
      headers: ['Estimate (95 % CI)', 'Verdict'],
      width: FULL,
    });
    return figure(chart, humanize(window));
  });
  const rows = bySegment(global, order).map((h) => [
    segmentLabel(h.segment),
    humanize(h.window),
    f.money(h.incremental, true),
    f.money(h.ciLow),
    f.money(h.ciHigh),
    isFiniteNumber(h.pValue) ? (h.pValue < 0.001 ? '< 0.001' : f.number(h.pValue, 3)) : '–',
    h.verdict,
    f.number(h.nTreatment),
    f.number(h.nControl),
  ]);
  const leaks = data.holdoutLeaks
    ? `<p class="note">⚠ ${f.number(data.holdoutLeaks)} control customer${data.holdoutLeaks === 1 ? ' was' : 's were'} sent CRM messages anyway (table holdout_leaks): the exclusion list was not honoured, which pulls these estimates towards zero.</p>`
    : '';
  // The track record: a verdict that appears and goes again is what the sequence protects against.
  const trackRecord =
    data.holdoutDaily.length > 1
      ? figure(
          lineChart({
            title: 'Incremental revenue since the start, night by night',
            x: data.holdoutDaily.map((d) => f.shortDate(d.night)),
            series: [{ name: 'Incremental revenue', values: data.holdoutDaily.map((d) => d.incremental), color: OKABE_ITO.blue, band: { low: data.holdoutDaily.map((d) => d.seqLow), high: data.holdoutDaily.map((d) => d.seqHigh) } }],
            format: f.moneyShort,
            zero: true,
            xTitle: 'Run date; the band is the 95 % confidence sequence, valid for every night at once',
            width: FULL,
          }),
          'Since the start, night by night',
        )
      : '';
  const payback = global
    .filter((h) => h.segment === 'ALL')
    .map((h) => `<p class="note">${esc(humanize(h.window))}: ${esc(paybackSentence(h, (v, digits) => f.money(v, false, digits)))}.</p>`)
    .join('');
  const content =
    leaks +
    payback +
    legend +
    charts.join('') +
    trackRecord +
    channelHoldoutTable(data.holdout, f) +
    numbers(table('Holdout results', ['Segment', 'Window', 'Incremental', 'CI low', 'CI high', 'p-value', 'Verdict', 'Treatment', 'Control'], rows, [false, false, true, true, true, true, false, true, true]));
  return section('holdout', 'Holdout: incremental revenue', explanation, content);
}

/** Each channel's nested holdout (holdout.channels): what the channel adds on top of the others, against its own cost. */
function channelHoldoutTable(holdout: ReportData['holdout'], f: Formatters): string {
  const channels = holdout.filter((h) => h.holdout !== GLOBAL_HOLDOUT && h.segment === 'ALL');
  if (channels.length === 0) return '';
  const ci = (low: number | null, high: number | null, format: (v: number) => string) =>
    isFiniteNumber(low) && isFiniteNumber(high) ? `${format(low)} to ${format(high)}` : '–';
  const cents = (v: number) => f.money(v, false, 2);
  const rows = channels.map((h) => [
    h.holdout,
    humanize(h.window),
    f.money(h.incremental, true),
    f.money(h.value, true),
    f.money(h.cost),
    isFiniteNumber(h.roi) ? cents(h.roi) : '–',
    ci(h.roiCiLow, h.roiCiHigh, cents),
    h.verdict,
    f.number(h.nControl),
  ]);
  return figure(
    table('Channel holdouts (all customers)', ['Channel', 'Window', 'Incremental revenue', 'Incremental value', 'Cost', 'ROI', 'ROI 95 % CI', 'Verdict', 'Held out'], rows, [false, false, true, true, true, true, true, false, true]),
    'Channel holdouts',
    'Within the treatment group, a share held out of one channel only receives everything else: the difference is what that channel adds on top of the others, its ROI per unit of the channel\'s own cost. Since the start, the interval is the confidence sequence.',
  );
}

/** Money, rate or count, from the metric's name (the KPI names follow these conventions). */
function metricKind(metric: string): 'money' | 'rate' | 'count' | 'decimal' {
  if (/(_rate|_share)$|^revenue_share/.test(metric)) return 'rate';
  if (/revenue|order_value|clv|equity/.test(metric)) return 'money';
  if (/per_|average/.test(metric)) return 'decimal';
  return 'count';
}

function kpiSection(data: ReportData, f: Formatters): string {
  const points = data.kpiTrend.filter((k) => k.date);
  const dates = unique(points.map((k) => k.date)).sort();
  const runs = dates.length > 1 ? `the last ${f.number(dates.length)} runs` : 'the last runs';
  const explanation = `The headline KPIs (all channels) over ${runs}, one chart each; each chart has its own scale.`;
  const metrics = unique(points.map((k) => k.metric)).sort((a, b) => {
    const rank = (m: string) => (KPI_ORDER.includes(m) ? KPI_ORDER.indexOf(m) : KPI_ORDER.length);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  const withValues = metrics.filter((m) => points.some((k) => k.metric === m && isFiniteNumber(k.value)));
  if (withValues.length === 0) return section('kpi', 'KPI trends', explanation, notAvailable('no KPI history has been recorded yet.'));
  const cards = withValues.map((metric) => {
    const byDate = new Map(points.filter((k) => k.metric === metric).map((k) => [k.date, k.value]));
    const values = dates.map((d) => byDate.get(d) ?? null);
    const kind = metricKind(metric);
    const full: Format = kind === 'money' ? (v) => f.money(v) : kind === 'rate' ? (v) => f.percent(v) : kind === 'decimal' ? (v) => f.number(v, 2) : (v) => f.number(v);
    const tick: Format = kind === 'money' ? f.moneyShort : kind === 'rate' ? f.percentTick : kind === 'decimal' ? (v, step) => f.number(v, step ? stepDigits(step) : 2) : f.numberShort;
    const known = dates.map((d, i) => [d, values[i]] as const).filter((p): p is readonly [string, number] => isFiniteNumber(p[1]));
    const [firstDate, first] = known[0]!;
    const [lastDate, last] = known[known.length - 1]!;
    // Rates change in percentage points; amounts and counts relative to where the chart starts.
    const change =
      known.length < 2 ? '' : kind === 'rate' ? `${f.number((last - first) * 100, 1, true)} pp` : first !== 0 ? f.percent((last - first) / Math.abs(first), 1, true) : '';
    const note = `<strong>${esc(full(last))}</strong> on ${esc(f.shortDate(lastDate))}${change ? ` · ${esc(change)} since ${esc(f.shortDate(firstDate))}` : ''}`;
    const chart = lineChart({
      title: `${humanize(metric)} over ${runs}`,
      x: dates.map(f.shortDate),
      series: [{ name: humanize(metric), values, color: OKABE_ITO.blue }],
      format: tick,
      zero: kind === 'count' || kind === 'money',
      width: CARD,
      height: 180,
    });
    return figure(chart, humanize(metric), note);
  });
  return section('kpi', 'KPI trends', explanation, `<div class="grid">${cards.join('')}</div>`);
}

function rocSection(data: ReportData, f: Formatters): string {
  const explanation =
    'Return on Customer: the period\'s net revenue from a cohort plus the change in its customer equity (sum of CLV), divided by its equity at the period start.';
  if (data.roc.length === 0) return section('roc', 'Return on Customer', explanation, notAvailable('Return on Customer needs scores from the start of the period.'));
  const order = segmentOrder(data, data.roc.map((r) => r.segment));
  const periods = unique(data.roc.map((r) => r.period));
  const charts = periods.map((period) => {
    const rows = bySegment(data.roc.filter((r) => r.period === period), order).map((r) => ({ label: segmentLabel(r.segment), value: r.roc, valueLabel: f.percent(r.roc, 2, true) }));
    return figure(barChart({ title: `Return on Customer over ${period}`, rows, format: (v) => f.percent(v, 2), color: OKABE_ITO.purple, width: HALF }), `Period ${period}`);
  });
  const rows = periods.flatMap((period) =>
    bySegment(data.roc.filter((r) => r.period === period), order).map((r) => [
      segmentLabel(r.segment),
      period,
      f.money(r.equityStart),
      f.money(r.cashFlow),
      f.money(r.equityChange, true),
      f.percent(r.roc, 2, true),
    ]),
  );
  const content =
    `<div class="grid two">${charts.join('')}</div>` +
    numbers(table('Return on Customer', ['Segment', 'Period', 'Equity at start', 'Cash flow', 'Equity change', 'ROC'], rows, [false, false, true, true, true, true]));
  return section('roc', 'Return on Customer', explanation, content);
}

function forecastSection(data: ReportData, f: Formatters): string {
  const explanation = 'Past revenue forecasts (all customers) against the revenue that followed, per forecast horizon; the dashed line is the forecast.';
  const rows = data.forecastAccuracy.filter((r) => isFiniteNumber(r.expected) || isFiniteNumber(r.actual));
  if (rows.length === 0) return section('forecast', 'Forecast accuracy', explanation, notAvailable('a forecast is checked once its horizon has passed.'));
  const horizons = unique(rows.map((r) => r.horizonDays)).sort((a, b) => a - b);
  const charts = horizons.map((horizon) => {
    const ofHorizon = rows.filter((r) => r.horizonDays === horizon).sort((a, b) => a.forecastDate.localeCompare(b.forecastDate));
    const errors = ofHorizon.filter((r) => isFiniteNumber(r.expected) && isFiniteNumber(r.actual) && r.actual !== 0).map((r) => Math.abs(r.expected! - r.actual!) / Math.abs(r.actual!));
    const note = errors.length
      ? `Mean absolute error ${esc(f.percent(sum(errors) / errors.length))} over ${esc(f.number(errors.length))} forecast${errors.length === 1 ? '' : 's'}.`
      : undefined;
    const chart = lineChart({
      title: `${horizon}-day revenue forecast vs actual`,
      x: ofHorizon.map((r) => f.shortDate(r.forecastDate)),
      series: [
        { name: 'Actual', values: ofHorizon.map((r) => r.actual), color: OKABE_ITO.blue, marker: 'circle' },
        { name: 'Forecast', values: ofHorizon.map((r) => r.expected), color: OKABE_ITO.orange, marker: 'square', dash: '6 4' },
      ],
      format: f.moneyShort,
      xTitle: 'Forecast made on',
      zero: true,
      width: horizons.length <= 2 ? HALF : CARD,
      height: 220,
    });
    return figure(chart, `${horizon}-day horizon`, note);
  });
  const tableRows = rows.map((r) => [
    r.forecastDate,
    `${r.horizonDays} days`,
    f.money(r.expected),
    f.money(r.actual),
    isFiniteNumber(r.expected) && isFiniteNumber(r.actual) ? f.money(r.expected - r.actual, true) : '–',
    isFiniteNumber(r.expected) && isFiniteNumber(r.actual) && r.actual !== 0 ? f.percent((r.expected - r.actual) / r.actual, 1, true) : '–',
  ]);
  const content =
    `<div class="grid${horizons.length <= 2 ? ' two' : ''}">${charts.join('')}</div>` +
    numbers(table('Forecasts and outcomes', ['Forecast date', 'Horizon', 'Forecast', 'Actual', 'Error', 'Error %'], tableRows, [false, false, true, true, true, true]));
  return section('forecast', 'Forecast accuracy', explanation, content);
}

function crmChannelSection(data: ReportData, f: Formatters): string {
  const explanation =
    'The CRM channels over the KPI period: what was delivered and what customers did with it, the revenue of the orders attributed to each channel (last click in 7 days, else last open in 1 day) and its share of all net revenue, and what the channel cost.';
  const channels = data.crmChannels.filter((c) => c.channel !== 'ALL');
  if (channels.length === 0) return section('crm-channels', 'CRM channels', explanation, notAvailable('the CRM platform has delivered no messages, costs or attributed orders for this period.'));
  const all = data.crmChannels.find((c) => c.channel === 'ALL');
  const chart = barChart({
    title: 'Attributed revenue by CRM channel',
    rows: channels.map((c) => ({ label: c.channel, value: c.attributedRevenue, valueLabel: `${f.money(c.attributedRevenue)} (${f.percent(c.revenueShare, 1)} of revenue)` })),
    format: (v) => f.money(v),
    color: OKABE_ITO.green,
    width: HALF,
  });
  const note = all ? `CRM-attributed revenue: <strong>${esc(f.money(all.attributedRevenue))}</strong>, ${esc(f.percent(all.revenueShare, 1))} of all net revenue, for ${esc(f.money(all.cost))} of cost.` : undefined;
  const rows = [...channels, ...(all ? [all] : [])].map((c) => [
    c.channel === 'ALL' ? 'All CRM channels' : c.channel,
    f.number(c.delivered),
    f.percent(c.openRate),
    f.percent(c.clickThroughRate),
    f.percent(c.unsubscribeRate, 2),
    c.consented === null ? '–' : f.number(c.consented),
    f.money(c.attributedRevenue),
    f.percent(c.revenueShare),
    f.money(c.cost),
  ]);
  const content =
    `<div class="grid two">${figure(chart, undefined, note)}</div>` +
    table('CRM channels', ['Channel', 'Delivered', 'Open rate', 'CTR', 'Unsubscribes', 'Consented', 'Attributed revenue', 'Share of revenue', 'Cost'], rows, [false, true, true, true, true, true, true, true, true]);
  return section('crm-channels', 'CRM channels', explanation, content);
}

function campaignSection(data: ReportData, f: Formatters): string {
  const explanation = 'The campaigns (and triggered programmes) whose messages drove the most attributed revenue since they started, with their funnel and cost.';
  if (data.campaigns.length === 0) return section('campaigns', 'Top campaigns', explanation, notAvailable('the CRM platform has delivered no campaign messages yet.'));
  const rows = data.campaigns.map((c) => [
    c.campaign,
    c.channel,
    f.number(c.delivered),
    f.percent(c.openRate),
    f.percent(c.clickThroughRate),
    f.number(c.attributedOrders),
    f.money(c.attributedRevenue),
    f.money(c.cost),
    c.cost > 0 ? `${f.number(c.attributedRevenue / c.cost, 1)}×` : '–',
  ]);
  const content = table(`Top ${data.campaigns.length} campaigns by attributed revenue`, ['Campaign', 'Channel', 'Delivered', 'Open rate', 'CTR', 'Orders', 'Revenue', 'Cost', 'Revenue / cost'], rows, [false, false, true, true, true, true, true, true, true]);
  return section('campaigns', 'Top campaigns', explanation, content + '<p class="note">Attributed revenue is not incremental revenue: the holdout section measures what CRM added.</p>');
}

function npsSection(data: ReportData, f: Formatters): string {
  const explanation = 'Net Promoter Score of the survey answers in the KPI period, per RFM segment of the answering customer: % promoters (9–10) minus % detractors (0–6), in points, with 95 % intervals.';
  const answered = data.nps.filter((n) => n.responses > 0);
  if (answered.length === 0) return section('nps', 'NPS by segment', explanation, notAvailable('no survey answers in this period.'));
  const order = segmentOrder(data, answered.map((n) => n.segment));
  const rows: ForestRow[] = bySegment(answered, order).map((n) => ({
    label: segmentLabel(n.segment),
    estimate: n.nps,
    low: n.ciLow,
    high: n.ciHigh,
    color: OKABE_ITO.blue,
    marker: 'circle',
    estimateText: `${f.number(n.nps, 1)} (${f.number(n.ciLow, 1)} to ${f.number(n.ciHigh, 1)})`,
    verdictText: `${f.number(n.responses)} answers`,
  }));
  const chart = forestPlot({ title: 'NPS by segment', rows, formatTick: (v) => f.number(v), xTitle: 'NPS (points, −100 to 100)', headers: ['NPS (95 % CI)', 'Answers'], width: FULL });
  return section('nps', 'NPS by segment', explanation, figure(chart));
}

function referralSection(data: ReportData, f: Formatters): string {
  const explanation =
    "What customers bring through the customers they referred: the referred customers' revenue to date and predicted CLV (influence value = margin × revenue + CLV; direct referrals only, so nothing counts twice).";
  const { referrals } = data;
  if (referrals.referrers === 0) return section('referrals', 'Referrals', explanation, notAvailable('no customer profile names a referrer yet.'));
  const tiles: [string, string][] = [
    ['Referrers', f.number(referrals.referrers)],
    ['Referred customers', f.number(referrals.referred)],
    ['Influence value', f.money(referrals.influence)],
  ];
  const rows = referrals.top.map((r) => [r.customer, f.number(r.referred), f.money(r.referredRevenue), f.money(r.influence), f.money(r.ownClv)]);
  const content =
    `<dl class="tiles">${tiles.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>` +
    table(`Top ${referrals.top.length} referrers by influence value`, ['Customer', 'Referred', 'Their revenue', 'Influence value', 'Own CLV'], rows, [false, true, true, true, true]);
  return section('referrals', 'Referrals', explanation, content);
}

// --- document -------------------------------------------------------------------------------------

/** Light theme only: the chart colours are chosen for contrast on white. */
const CSS = `
:root { color-scheme: light; --ink: #24292f; --muted: #57606a; --line: #d8dee4; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 2px; }
h3 { font-size: 15px; margin: 0 0 4px; }
.subtitle, .lead, .note, .na, caption, small { color: var(--muted); }
.lead { margin: 0 0 14px; max-width: 80ch; }
nav { margin: 10px 0 4px; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 14px; }
nav a { color: #0a58ca; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px; margin: 16px 0; }
figure { margin: 0; min-width: 0; }
.note { margin: 0 0 6px; font-size: 14px; }
.note strong { color: var(--ink); font-size: 16px; }
.na { font-style: italic; margin: 0; padding: 12px; background: var(--bg); border-radius: 6px; }
svg.chart { display: block; max-width: 100%; height: auto; font-family: inherit; overflow: visible; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(${CARD}px, 100%), 1fr)); gap: 20px 24px; align-items: start; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(min(${HALF - 60}px, 100%), 1fr)); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(135px, 1fr)); gap: 12px; margin: 0; }
.tiles div { background: var(--bg); border-radius: 6px; padding: 10px 12px; }
.tiles dt { font-size: 13px; color: var(--muted); }
.tiles dd { margin: 0; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tiles small { display: block; font-size: 12px; font-weight: 400; }
.badge { display: inline-block; padding: 0 10px; border-radius: 12px; font-size: 16px; }
.badge.good { background: #dafbe1; color: #0f5323; }
.badge.warn { background: #fff8c5; color: #633c01; }
.badge.bad { background: #ffebe9; color: #82071e; }
.legend { margin: 0 0 10px; font-size: 14px; }
.legend span { font-size: 16px; margin-left: 10px; }
.legend span:first-child { margin-left: 0; }
details { margin-top: 12px; }
summary { cursor: pointer; color: #0a58ca; font-size: 14px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; margin-top: 8px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-size: 13px; padding-bottom: 4px; }
th, td { padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
thead th { font-weight: 600; }
tbody th { font-weight: 400; }
.num { text-align: right; }
footer { max-width: 1180px; margin: 0 auto; padding: 0 20px 32px; color: var(--muted); font-size: 13px; }
@media print { body { background: #fff; } section { break-inside: avoid; border: 0; } details { display: none; } }
`;

export function renderReport(data: ReportData): string {
  const f = formatters(data.display);
  const sections: [id: string, title: string, html: string][] = [
    ['run', 'Run', runSummary(data, f)],
    ['segments', 'Segments', segmentSection(data, f)],
    ['migration', 'Migration', migrationSection(data, f)],
    ['clv', 'CLV', clvSection(data, f)],
    ['calibration', 'Calibration', calibrationSection(data, f)],
    ['holdout', 'Holdout', holdoutSection(data, f)],
    ['crm-channels', 'CRM channels', crmChannelSection(data, f)],
    ['campaigns', 'Campaigns', campaignSection(data, f)],
    ['nps', 'NPS', npsSection(data, f)],
    ['referrals', 'Referrals', referralSection(data, f)],
    ['kpi', 'KPI trends', kpiSection(data, f)],
    ['roc', 'Return on Customer', rocSection(data, f)],
    ['forecast', 'Forecast accuracy', forecastSection(data, f)],
  ];
  const title = `CRM metrics report ${data.date}`;
  return `<!DOCTYPE html>
<html lang="${esc(data.display.locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>CRM metrics report · ${esc(data.date)}</h1>
<p class="subtitle">Nightly run of ${esc(data.date)}. Amounts in ${esc(data.display.currency)}${data.previousDate ? `; changes are against the run of ${esc(data.previousDate)}` : ''}.</p>
<nav aria-label="Sections">${sections.map(([id, label]) => `<a href="#${id}">${esc(label)}</a>`).join('')}</nav>
</header>
<main>
${sections.map(([, , html]) => html).join('\n')}
</main>
<footer>Generated by crm-metrics. This file is self-contained: it loads nothing from the network.</footer>
</body>
</html>
`;
}
