/**
 * Inline SVG charts for the HTML report: five generic builders (horizontal bars, histogram, heatmap,
 * lines, forest plot), each returning one `<svg>` string. No library and no script: the report must
 * open from a file, offline, and show its charts without JavaScript.
 *
 * Every chart is `role="img"` with a `<title>` and an `aria-label`, prints its numbers next to the
 * marks (colour is never the only carrier of meaning) and is drawn at its natural size in pixels
 * (`width` = viewBox width) so that its 12 px text stays 12 px; CSS only shrinks it on narrow screens.
 * Non-finite values (null, NaN, ±Infinity) are skipped rather than drawn.
 */

/** Okabe & Ito (2008) colour-blind-safe palette. */
export const OKABE_ITO = {
  orange: '#E69F00',
  sky: '#56B4E9',
  green: '#009E73',
  yellow: '#F0E442',
  blue: '#0072B2',
  vermillion: '#D55E00',
  purple: '#CC79A7',
  black: '#000000',
} as const;

/** Text and chrome: #24292f and #57606a on white have contrast 15:1 and 6.4:1 (WCAG AA ≥ 4.5). */
const INK = '#24292f';
const MUTED = '#57606a';
const GRID = '#d8dee4';
const AXIS = '#8c959f';
const FONT = 12;

export type Marker = 'circle' | 'square' | 'diamond' | 'triangle' | 'none';
/** Formats a value; axis ticks also pass the distance between ticks, to print as many decimals as that needs. */
export type Format = (value: number, step?: number) => string;

/** Text for HTML and SVG, both as content and inside double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const esc = escapeHtml;

export const isFiniteNumber = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Rounded coordinates keep the markup short and free of "1.2000000000000002". */
const r = (v: number) => Math.round(v * 10) / 10;

/**
 * Text width estimate in px (TypeScript has no font metrics without a browser): per-character widths
 * of a typical sans-serif, on the generous side so that labels rather overlap nothing than clip.
 */
export function textWidth(text: string, size = FONT, bold = false): number {
  let em = 0;
  // Widths of DejaVu Sans (Linux's default sans-serif), wider than Segoe UI, San Francisco or Roboto.
  for (const c of text) em += /[.,:;'’!|ijlt\s]/.test(c) ? 0.33 : /[()[\]f]/.test(c) ? 0.4 : /[%MWmw@—+−<>=]/.test(c) ? 0.96 : /[A-Z#&]/.test(c) ? 0.74 : 0.64;
  return em * size * (bold ? 1.1 : 1);
}

/** Shortens `text` to fit `px`; the full text stays available in a `<title>` tooltip or a table. */
function fit(text: string, px: number, size = FONT): string {
  if (textWidth(text, size) <= px) return text;
  const chars = [...text];
  while (chars.length > 1 && textWidth(chars.join('') + '…', size) > px) chars.pop();
  return chars.join('').trimEnd() + '…';
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${r(x)}" y="${r(y)}"${attrs ? ' ' + attrs : ''}>${esc(content)}</text>`;
}

/** The `<svg>` element every chart shares: accessible name, description, natural size. */
function frame(title: string, summary: string, width: number, height: number, body: string): string {
  const label = summary ? `${title}. ${summary}` : title;
  return (
    `<svg class="chart" width="${width}" height="${r(height)}" viewBox="0 0 ${width} ${r(height)}" ` +
    `role="img" aria-label="${esc(label)}" font-size="${FONT}" fill="${INK}"><title>${esc(title)}</title>` +
    (summary ? `<desc>${esc(summary)}</desc>` : '') +
    body +
    '</svg>'
  );
}

/**
 * A "nice" axis covering [lo, hi] with about `count` ticks at 1, 2 or 5 × 10^k, so that tick labels
 * are round numbers. Degenerate ranges (one value, all zeros) are widened instead of dividing by zero.
 */
export function niceScale(lo: number, hi: number, count = 5): { lo: number; hi: number; ticks: number[] } {
  // A range within rounding of one value (two nights' 0.1 + 0.2 and 0.3) is one value: its step
  // would be below the values' precision, and the ticks' loop would never advance.
  if (!(hi - lo > 1e-9 * Math.max(Math.abs(lo), Math.abs(hi)))) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  let step = 10 ** Math.floor(Math.log10(raw));
  const err = raw / step;
  step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= end + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo: start, hi: end, ticks };
}

/** Decimals that tell ticks `step` apart: 1 → 0, 0.5 → 1, 0.25 → 2. */
export const stepDigits = (step: number) => Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9)));

/**
 * Which axis labels to print so that none overlap: every k-th (k as small as the widest label allows)
 * and always the last (the latest run), dropping earlier ones that would collide with it.
 */
function spaced(xs: readonly number[], labels: readonly string[]): number[] {
  const n = labels.length;
  if (n === 0) return [];
  const widest = Math.max(...labels.map((l) => textWidth(l))) + 10;
  const step = n > 1 ? Math.abs(xs[1]! - xs[0]!) : Infinity;
  const every = Math.max(1, Math.ceil(widest / step));
  const kept = labels.map((_, i) => i).filter((i) => i % every === 0);
  while (kept.length && kept[kept.length - 1] !== n - 1 && xs[n - 1]! - xs[kept[kept.length - 1]!]! < widest) kept.pop();
  if (kept[kept.length - 1] !== n - 1) kept.push(n - 1);
  return kept;
}

/** A nice scale with as many ticks (at most `count`) as fit along `px` with their labels side by side. */
function fittingScale(lo: number, hi: number, px: number, format: Format, count: number) {
  for (let c = count; ; c--) {
    const scale = niceScale(lo, hi, c);
    const step = scale.ticks[1]! - scale.ticks[0]!;
    const widest = Math.max(...scale.ticks.map((t) => textWidth(format(t, step)))) + 12;
    if (c <= 2 || (px / (scale.ticks.length - 1)) >= widest) return scale;
  }
}

const linear = (d0: number, d1: number, r0: number, r1: number) => (v: number) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);

function marker(shape: Marker, x: number, y: number, color: string, hollow = false, size = 4): string {
  const paint = hollow ? `fill="#fff" stroke="${color}" stroke-width="2"` : `fill="${color}" stroke="#fff" stroke-width="1"`;
  switch (shape) {
    case 'circle':
      return `<circle cx="${r(x)}" cy="${r(y)}" r="${size}" ${paint}/>`;
    case 'square':
      return `<rect x="${r(x - size)}" y="${r(y - size)}" width="${size * 2}" height="${size * 2}" ${paint}/>`;
    case 'diamond': {
      const s = size * 1.3;
      return `<path d="M${r(x)} ${r(y - s)}L${r(x + s)} ${r(y)}L${r(x)} ${r(y + s)}L${r(x - s)} ${r(y)}Z" ${paint}/>`;
    }
    case 'triangle': {
      const s = size * 1.3;
      return `<path d="M${r(x)} ${r(y - s)}L${r(x + s)} ${r(y + s * 0.8)}L${r(x - s)} ${r(y + s * 0.8)}Z" ${paint}/>`;
    }
    case 'none':
      return '';
  }
}

/** Horizontal grid lines with labels on the left: the y axis of the histogram and line charts. */
function yAxis(ticks: number[], y: (v: number) => number, left: number, right: number, format: Format): string {
  const step = (ticks[1] ?? 1) - (ticks[0] ?? 0);
  return ticks
    .map((t) => `<line x1="${left}" x2="${right}" y1="${r(y(t))}" y2="${r(y(t))}" stroke="${t === 0 ? AXIS : GRID}"/>` + text(left - 6, y(t) + 4, format(t, step), `text-anchor="end" fill="${MUTED}"`))
    .join('');
}

const tickWidth = (scale: { ticks: number[] }, format: Format) => Math.max(...scale.ticks.map((t) => textWidth(format(t, (scale.ticks[1] ?? 1) - (scale.ticks[0] ?? 0)))));

// ---------------------------------------------------------------------------------------------

export interface BarRow {
  label: string;
  value: number | null;
  /** Printed after the bar; defaults to `format(value)`. */
  valueLabel?: string;
}

/**
 * Horizontal bars with the value printed at the end of each bar. Negative values grow left of a
 * zero line (Return on Customer can be negative); missing values print "–" at zero.
 */
export function barChart(options: { title: string; rows: readonly BarRow[]; format: Format; color: string; width?: number }): string {
  const { title, rows, format, color } = options;
  const width = options.width ?? 360;
  const rowHeight = 24;
  const top = 6;
  const labels = rows.map((row) => row.valueLabel ?? (isFiniteNumber(row.value) ? format(row.value) : '–'));
  const labelWidth = Math.min(Math.max(40, ...rows.map((row) => textWidth(row.label))), width * 0.36);
  const valueWidth = Math.max(24, ...labels.map((l) => textWidth(l))) + 8;
  const values = rows.map((row) => row.value).filter(isFiniteNumber);
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const left = labelWidth + 8 + (lo < 0 ? valueWidth : 0);
  const right = width - valueWidth;
  const x = hi > lo ? linear(lo, hi, left, right) : () => left;
  const zero = x(0);
  const body = rows
    .map((row, i) => {
      const y = top + i * rowHeight;
      const name = fit(row.label, labelWidth);
      const label = text(labelWidth, y + 16, name, 'text-anchor="end"');
      const value = row.value;
      if (!isFiniteNumber(value)) return label + text(zero + 6, y + 16, labels[i]!, `fill="${MUTED}"`);
      const end = x(value);
      const bar = `<rect x="${r(Math.min(zero, end))}" y="${y + 4}" width="${r(Math.max(Math.abs(end - zero), value === 0 ? 0 : 1))}" height="16" fill="${color}"><title>${esc(`${row.label}: ${labels[i]}`)}</title></rect>`;
      const valueText = value < 0 ? text(end - 6, y + 16, labels[i]!, 'text-anchor="end"') : text(end + 6, y + 16, labels[i]!);
      return label + bar + valueText;
    })
    .join('');
  const height = top + rows.length * rowHeight + 6;
  const axis = `<line x1="${r(zero)}" x2="${r(zero)}" y1="${top}" y2="${height - 4}" stroke="${AXIS}"/>`;
  const summary = rows.map((row, i) => `${row.label}: ${labels[i]}`).join('; ');
  return frame(title, summary, width, height, axis + body);
}

// ---------------------------------------------------------------------------------------------

/**
 * A histogram: contiguous columns over [low, high) buckets, counts on a y axis, bucket edges on the x
 * axis (thinned so the labels do not collide), the count above a column when it fits.
 */
export function histogram(options: {
  title: string;
  bins: readonly { low: number; high: number; value: number }[];
  formatEdge: Format;
  /** Counts on the y axis ("6K"). */
  formatValue: Format;
  /** Counts above the columns, exact ("6,012") where they fit, else as on the axis. */
  formatExact?: Format;
  xTitle: string;
  yTitle: string;
  color: string;
  width?: number;
  height?: number;
}): string {
  const { title, formatEdge, formatValue, color } = options;
  const bins = options.bins.filter((b) => isFiniteNumber(b.value) && isFiniteNumber(b.low) && isFiniteNumber(b.high));
  const width = options.width ?? 720;
  const height = options.height ?? 280;
  const scale = niceScale(0, Math.max(0, ...bins.map((b) => b.value)), 4);
  // Columns are equally wide whatever the bucket widths: the pipeline's last bucket holds the long tail.
  const edgeLabels = [...bins.map((b) => formatEdge(b.low)), bins.length ? formatEdge(bins[bins.length - 1]!.high) : ''];
  const left = tickWidth(scale, formatValue) + 40;
  // The edge labels are centred on the edges: the last one needs half its width right of the plot.
  const plot = { left, right: width - Math.max(16, textWidth(edgeLabels[edgeLabels.length - 1]!) / 2 + 4), top: 22, bottom: height - 46 };
  const y = linear(scale.lo, scale.hi, plot.bottom, plot.top);
  const step = (plot.right - plot.left) / Math.max(1, bins.length);
  const edges = edgeLabels.map((_, i) => plot.left + i * step);
  const fits = (format: Format) => bins.every((b) => textWidth(format(b.value), 11) <= step - 2);
  const barFormat = options.formatExact && fits(options.formatExact) ? options.formatExact : fits(formatValue) ? formatValue : null;
  let body = yAxis(scale.ticks, y, plot.left, plot.right, formatValue);
  bins.forEach((b, i) => {
    const x0 = plot.left + i * step;
    const top = y(b.value);
    const tip = `${formatEdge(b.low)} – ${formatEdge(b.high)}: ${formatValue(b.value)}`;
    body += `<rect x="${r(x0 + 1)}" y="${r(top)}" width="${r(Math.max(1, step - 2))}" height="${r(plot.bottom - top)}" fill="${color}"><title>${esc(tip)}</title></rect>`;
    if (barFormat && b.value > 0) body += text(x0 + step / 2, top - 4, barFormat(b.value), 'text-anchor="middle" font-size="11"');
  });
  for (const i of spaced(edges, edgeLabels)) {
    body += `<line x1="${r(edges[i]!)}" x2="${r(edges[i]!)}" y1="${plot.bottom}" y2="${plot.bottom + 4}" stroke="${AXIS}"/>` + text(edges[i]!, plot.bottom + 17, edgeLabels[i]!, `text-anchor="middle" fill="${MUTED}"`);
  }
  body += text((plot.left + plot.right) / 2, height - 8, options.xTitle, 'text-anchor="middle"');
  body += text(14, (plot.top + plot.bottom) / 2, options.yTitle, `text-anchor="middle" transform="rotate(-90 14 ${r((plot.top + plot.bottom) / 2)})"`);
  const summary = bins.map((b) => `${formatEdge(b.low)}–${formatEdge(b.high)}: ${(options.formatExact ?? formatValue)(b.value)}`).join('; ');
  return frame(title, summary, width, height, body);
}

// ---------------------------------------------------------------------------------------------

/** ColorBrewer "Blues" (single hue, colour-blind safe, monotone in lightness). */
const BLUES = ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'];

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** Colour at t ∈ [0, 1] along the scale, interpolated in sRGB between its stops. */
export function sequentialColor(t: number): string {
  const pos = Math.min(1, Math.max(0, t)) * (BLUES.length - 1);
  const i = Math.min(BLUES.length - 2, Math.floor(pos));
  const a = rgb(BLUES[i]!);
  const b = rgb(BLUES[i + 1]!);
  return '#' + a.map((c, k) => Math.round(c + (b[k]! - c) * (pos - i)).toString(16).padStart(2, '0')).join('');
}

/** WCAG relative luminance. */
function luminance(hex: string): number {
  const [R, G, B] = rgb(hex).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * R + 0.7152 * G + 0.0722 * B;
}

/**
 * Dark or white text, whichever contrasts more with the cell (WCAG contrast ratio). Mid-tone cells
 * reach only about 3.5:1 with either, so their text is bold (WCAG asks 3:1 of bold text).
 */
export function textOn(background: string): { color: string; bold: boolean } {
  const l = luminance(background);
  const dark = (l + 0.05) / (luminance(INK) + 0.05);
  const light = 1.05 / (l + 0.05);
  return { color: dark >= light ? INK : '#ffffff', bold: Math.max(dark, light) < 4.5 };
}

/** Splits a label into at most two lines of `px` at spaces; what does not fit is cut with "…". */
function wrap(label: string, px: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of label.split(/\s+/)) {
    if (line && lines.length < 1 && textWidth(`${line} ${word}`) > px) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.map((l) => fit(l, px));
}

/**
 * A matrix of counts: each cell prints its count, its colour encodes the count on a square-root
 * scale (the diagonal of "stayed" customers would otherwise wash out every other cell), and its text
 * flips between dark and white to stay readable. Zero cells stay white.
 */
export function heatmap(options: {
  title: string;
  rows: readonly string[];
  cols: readonly string[];
  values: readonly (readonly number[])[];
  format: Format;
  rowTitle: string;
  colTitle: string;
  /** Tooltip of a cell. */
  describe: (row: number, col: number) => string;
  width?: number;
}): string {
  const { title, rows, cols, values, format } = options;
  const width = options.width ?? 960;
  const labelWidth = Math.min(Math.max(...rows.map((l) => textWidth(l)), textWidth(options.rowTitle, FONT, true)) + 12, width * 0.24);
  const cellHeight = 30;
  // Column labels read best level, wrapped onto two lines; when one still does not fit (a long single
  // word such as "Hibernating" in a narrow column) they are all slanted instead of cut.
  let cellWidth = (width - labelWidth - 4) / Math.max(1, cols.length);
  const wrapped = cols.map((c) => wrap(c, cellWidth - 6));
  const level = wrapped.every((lines, j) => lines.join(' ') === cols[j]!.trim().split(/\s+/).join(' '));
  const slant = 40 * (Math.PI / 180);
  const slanted = cols.map((c) => fit(c, 160));
  if (!level) cellWidth = (width - labelWidth - 4 - Math.max(0, textWidth(slanted[slanted.length - 1] ?? '') * Math.cos(slant) - cellWidth / 2)) / Math.max(1, cols.length);
  const headerHeight = level
    ? 22 + Math.max(1, ...wrapped.map((l) => l.length)) * 15
    : 30 + Math.max(0, ...slanted.map((l) => textWidth(l))) * Math.sin(slant);
  const max = Math.max(0, ...values.flat().filter(isFiniteNumber));
  let body = text(labelWidth + (width - labelWidth) / 2, 14, options.colTitle, 'text-anchor="middle" font-weight="600"');
  body += text(labelWidth - 10, headerHeight - 6, options.rowTitle, 'text-anchor="end" font-weight="600"');
  cols.forEach((_, j) => {
    const x = labelWidth + j * cellWidth + cellWidth / 2;
    if (level) wrapped[j]!.forEach((line, k, lines) => (body += text(x, headerHeight - 6 - (lines.length - 1 - k) * 15, line, 'text-anchor="middle"')));
    else body += text(x - 4, headerHeight - 8, slanted[j]!, `transform="rotate(-40 ${r(x - 4)} ${r(headerHeight - 8)})"`);
  });
  rows.forEach((row, i) => {
    const y = headerHeight + i * cellHeight;
    body += text(labelWidth - 10, y + cellHeight / 2 + 4, fit(row, labelWidth - 12), 'text-anchor="end"');
    cols.forEach((_, j) => {
      const v = values[i]?.[j] ?? 0;
      const count = isFiniteNumber(v) ? v : 0;
      const fill = count > 0 && max > 0 ? sequentialColor(0.12 + 0.88 * Math.sqrt(count / max)) : '#ffffff';
      const x = labelWidth + j * cellWidth;
      const ink = textOn(fill);
      body += `<g><title>${esc(options.describe(i, j))}</title><rect x="${r(x + 1)}" y="${y + 1}" width="${r(cellWidth - 2)}" height="${cellHeight - 2}" fill="${fill}" stroke="${GRID}"/>`;
      body += text(x + cellWidth / 2, y + cellHeight / 2 + 4, count > 0 ? format(count) : '·', count > 0 ? `text-anchor="middle" fill="${ink.color}"${ink.bold ? ' font-weight="600"' : ''}` : `text-anchor="middle" fill="${MUTED}"`) + '</g>';
    });
  });
  const height = headerHeight + rows.length * cellHeight + 4;
  const summary = `${rows.length} rows (${options.rowTitle}) by ${cols.length} columns (${options.colTitle}); each cell gives the count`;
  return frame(title, summary, width, height, body);
}

// ---------------------------------------------------------------------------------------------

export interface LineSeries {
  name: string;
  values: readonly (number | null)[];
  color: string;
  /** Distinguishes series without colour: a dash pattern and a marker shape. */
  dash?: string;
  marker?: Marker;
  /** An interval around the line (e.g. a confidence band), drawn as a translucent area. */
  band?: { low: readonly (number | null)[]; high: readonly (number | null)[] };
}

/**
 * Lines over categorical x positions (run dates, frequency buckets) with a legend when there is more
 * than one series. Gaps (null) break a line; markers are drawn on every point for short series and on
 * the last point otherwise (the latest run), where a tooltip gives the exact value.
 */
export function lineChart(options: {
  title: string;
  x: readonly string[];
  series: readonly LineSeries[];
  format: Format;
  xTitle?: string;
  /** Start the y axis at zero (counts, means) rather than at the data's minimum (rates that move little). */
  zero?: boolean;
  /** A vertical line at an x position, labelled (e.g. where the data a model was fitted on ends). */
  mark?: { at: number; label: string };
  width?: number;
  height?: number;
}): string {
  const { title, x: labels, series, format } = options;
  const width = options.width ?? 360;
  const height = options.height ?? 200;
  // Zero joins the extent for `zero` charts and for charts with nothing to draw (no ±Infinity extent).
  const values = series.flatMap((s) => [...s.values, ...(s.band?.low ?? []), ...(s.band?.high ?? [])].filter(isFiniteNumber));
  const extent = options.zero || values.length === 0 ? [...values, 0] : values;
  const lo = Math.min(...extent);
  const hi = Math.max(...extent);
  const scale = niceScale(lo, hi, 4);
  const legend = series.length > 1;
  const left = tickWidth(scale, format) + 12;
  // x labels are centred on their points: the last one needs half its width right of the plot.
  const plot = { left, right: width - Math.max(12, textWidth(labels[labels.length - 1] ?? '') / 2 + 2), top: legend ? 30 : 12, bottom: height - (options.xTitle ? 44 : 26) };
  const step = labels.length > 1 ? (plot.right - plot.left) / (labels.length - 1) : 0;
  // A single x position is centred rather than pinned to the y axis.
  const xAt = (i: number) => (labels.length > 1 ? plot.left + i * step : (plot.left + plot.right) / 2);
  const y = linear(scale.lo, scale.hi, plot.bottom, plot.top);
  let body = yAxis(scale.ticks, y, plot.left, plot.right, format);
  for (const i of spaced(labels.map((_, i) => xAt(i)), labels)) body += text(xAt(i), plot.bottom + 16, labels[i]!, `text-anchor="middle" fill="${MUTED}"`);
  if (options.xTitle) body += text((plot.left + plot.right) / 2, height - 8, options.xTitle, 'text-anchor="middle"');
  if (options.mark) {
    const mx = xAt(options.mark.at);
    body += `<line x1="${r(mx)}" x2="${r(mx)}" y1="${r(plot.top)}" y2="${r(plot.bottom)}" stroke="${MUTED}" stroke-dasharray="3 3"/>`;
    body += text(mx - 4, plot.top + 12, options.mark.label, `text-anchor="end" fill="${MUTED}"`);
  }
  const markAll = labels.length <= 24;
  series.forEach((s) => {
    if (s.band) {
      // One area per run of points with both ends: along the upper edge, back along the lower.
      const { low, high } = s.band;
      const runs: number[][] = [[]];
      labels.forEach((_, i) => (isFiniteNumber(low[i]) && isFiniteNumber(high[i]) ? runs.at(-1)!.push(i) : runs.push([])));
      for (const run of runs.filter((run) => run.length > 0)) {
        const edge = [...run.map((i) => `${r(xAt(i))} ${r(y(high[i]!))}`), ...[...run].reverse().map((i) => `${r(xAt(i))} ${r(y(low[i]!))}`)];
        body += `<path d="M${edge.join('L')}Z" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`;
      }
    }
    const points = s.values.map((v, i) => (isFiniteNumber(v) ? ([xAt(i), y(v)] as const) : null));
    // One path with a move-to after every gap.
    let d = '';
    let pen = false;
    for (const p of points) {
      if (!p) pen = false;
      else {
        d += `${pen ? 'L' : 'M'}${r(p[0])} ${r(p[1])}`;
        pen = true;
      }
    }
    if (d) body += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
    const lastIndex = points.reduce((acc, p, i) => (p ? i : acc), -1);
    points.forEach((p, i) => {
      if (!p || (!markAll && i !== lastIndex)) return;
      body += `<g>${marker(s.marker ?? 'circle', p[0], p[1], s.color)}<title>${esc(`${s.name}, ${labels[i]}: ${format(s.values[i]!)}`)}</title></g>`;
    });
  });
  if (legend) {
    let lx = plot.left;
    series.forEach((s) => {
      body += `<line x1="${r(lx)}" x2="${r(lx + 24)}" y1="12" y2="12" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
      body += marker(s.marker ?? 'circle', lx + 12, 12, s.color) + text(lx + 30, 16, s.name);
      lx += 42 + textWidth(s.name);
    });
  }
  const summary = series
    .map((s) => {
      const shown = s.values.map((v, i) => (isFiniteNumber(v) ? `${labels[i]}: ${format(v)}` : null)).filter((v) => v !== null);
      // Long series: first and last point only, an aria-label is not a data table.
      return `${s.name}: ${shown.length > 12 ? `${shown[0]} … ${shown[shown.length - 1]}` : shown.join(', ')}`;
    })
    .join('; ');
  return frame(title, summary, width, height, body);
}

// ---------------------------------------------------------------------------------------------

export interface ForestRow {
  label: string;
  estimate: number | null;
  low: number | null;
  high: number | null;
  color: string;
  marker: Marker;
  /** Hollow markers for results that do not support a conclusion. */
  hollow?: boolean;
  /** Right-hand columns: the numbers and the verdict in words. */
  estimateText: string;
  verdictText: string;
}

/**
 * A forest plot: one row per estimate with its 95 % CI as a bar, a zero line to judge each interval
 * against, and the estimate and verdict printed in words on the right (so colour only repeats them).
 */
export function forestPlot(options: {
  title: string;
  rows: readonly ForestRow[];
  formatTick: Format;
  xTitle: string;
  /** Headings of the two text columns. */
  headers: readonly [estimate: string, verdict: string];
  width?: number;
}): string {
  const { title, rows, formatTick } = options;
  const width = options.width ?? 960;
  const rowHeight = 26;
  const top = 26;
  const labelWidth = Math.min(Math.max(60, ...rows.map((row) => textWidth(row.label))) + 12, 190);
  const estimateWidth = Math.min(Math.max(...rows.map((row) => textWidth(row.estimateText))) + 16, 280);
  const verdictWidth = Math.min(Math.max(...rows.map((row) => textWidth(row.verdictText))) + 8, 330);
  const plot = { left: labelWidth + 10, right: width - estimateWidth - verdictWidth - 10 };
  const extent = rows.flatMap((row) => [row.estimate, row.low, row.high]).filter(isFiniteNumber);
  const scale = fittingScale(Math.min(0, ...extent), Math.max(0, ...extent), plot.right - plot.left, formatTick, 8);
  const tickStep = scale.ticks[1]! - scale.ticks[0]!;
  const x = linear(scale.lo, scale.hi, plot.left, plot.right);
  const bottom = top + rows.length * rowHeight;
  let body = text(plot.right + 16, 16, options.headers[0], 'font-weight="600"') + text(width - verdictWidth, 16, options.headers[1], 'font-weight="600"');
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    if (i % 2 === 0) body += `<rect x="0" y="${y}" width="${width}" height="${rowHeight}" fill="#f3f5f7"/>`;
  });
  for (const t of scale.ticks) body += `<line x1="${r(x(t))}" x2="${r(x(t))}" y1="${top}" y2="${bottom}" stroke="${t === 0 ? INK : GRID}"${t === 0 ? ' stroke-width="1.5"' : ''}/>`;
  rows.forEach((row, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    body += text(labelWidth, cy + 4, fit(row.label, labelWidth - 12), 'text-anchor="end"');
    let mark = '';
    if (isFiniteNumber(row.low) && isFiniteNumber(row.high)) {
      const [a, b] = [x(row.low), x(row.high)];
      mark += `<path d="M${r(a)} ${r(cy)}H${r(b)}M${r(a)} ${r(cy - 5)}V${r(cy + 5)}M${r(b)} ${r(cy - 5)}V${r(cy + 5)}" stroke="${row.color}" stroke-width="2" fill="none"/>`;
    }
    if (isFiniteNumber(row.estimate)) mark += marker(row.marker, x(row.estimate), cy, row.color, row.hollow, 5);
    else mark += text((plot.left + plot.right) / 2, cy + 4, 'no estimate', `text-anchor="middle" fill="${MUTED}" font-style="italic"`);
    body += `<g><title>${esc(`${row.label}: ${row.estimateText}, ${row.verdictText}`)}</title>${mark}</g>`;
    body += text(plot.right + 16, cy + 4, row.estimateText) + text(width - verdictWidth, cy + 4, fit(row.verdictText, verdictWidth - 4));
  });
  for (const t of scale.ticks) body += text(x(t), bottom + 16, formatTick(t, tickStep), `text-anchor="middle" fill="${MUTED}"`);
  body += text((plot.left + plot.right) / 2, bottom + 36, options.xTitle, 'text-anchor="middle"');
  const summary = rows.map((row) => `${row.label}: ${row.estimateText}, ${row.verdictText}`).join('; ');
  return frame(title, summary, width, bottom + 44, body);
}
