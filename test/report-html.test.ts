/**
 * The HTML run report (shared/report/html.ts): pure checks on the markup (self-contained, escaped,
 * accessible charts, empty data) and a browser check in Debian's Chromium (no requests, no errors,
 * charts laid out, no horizontal scrolling on a 1366×768 laptop screen, a screenshot to look at).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { renderReport, type ReportData } from '../shared/report/html.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '.artifacts');
/** Sections that draw charts, by id; the run summary is tiles of numbers. */
const CHART_SECTIONS = ['segments', 'migration', 'clv', 'calibration', 'holdout', 'crm-channels', 'nps', 'kpi', 'roc', 'forecast'];
/** Every section in the document's order; campaigns and referrals are tables. */
const SECTIONS = ['run', 'segments', 'migration', 'clv', 'calibration', 'holdout', 'crm-channels', 'campaigns', 'nps', 'referrals', 'kpi', 'roc', 'forecast'];
const ODD = "VIP <&> 'Friends'";

/** Deterministic noise for the fixture (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const shiftDays = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

function fixture(): ReportData {
  const random = rng(42);
  const date = '2024-06-30';
  const sizes: [string, number, number][] = [
    ['Hibernating', 5200, 41],
    ['Lost', 4100, 22],
    ['Potential Loyalist', 3300, 160],
    ['Loyal', 2600, 410],
    ['Champions', 1900, 720],
    ['At Risk', 1500, 150],
    ['About to Sleep', 1200, 60],
    ['Need Attention', 900, 120],
    ['Promising', 700, 70],
    ['New', 640, 90],
    ["Can't Lose Them", 310, 380],
    [ODD, 45, 2200],
  ];
  const segments: ReportData['segments'] = sizes.map(([segment, customers, avg]) => ({ segment, customers, monetary: Math.round(customers * avg * (0.8 + random() * 0.4)), avgClv: avg * 1.3 }));
  segments[1]!.avgClv = null; // no converged model for a segment: prints "–"
  const names = sizes.map(([s]) => s);
  const migration: ReportData['migration'] = [];
  for (const from of [...names, null]) {
    for (const to of [...names, null]) {
      if (from === null && to === null) continue;
      const stay = from === to ? 0.8 : 0.02;
      if (from !== to && random() < 0.45) continue;
      const base = from === null ? 400 : (sizes.find(([s]) => s === from)?.[1] ?? 0);
      migration.push({ from, to, customers: Math.max(1, Math.round(base * stay * random() * 1.5)) });
    }
  }
  const clvHistogram = Array.from({ length: 20 }, (_, i) => ({ low: i * 60, high: i === 19 ? 8400 : (i + 1) * 60, customers: Math.round(6000 * Math.exp(-i / 3.5) + (i === 19 ? 300 : 0)) }));
  const calibration = ['0', '1', '2', '3', '4', '5', '6', '7+'].map((bucket, i) => ({ bucket, customers: Math.round(9000 / (i + 1) ** 1.6), predicted: 0.15 + i * 0.42, actual: 0.12 + i * 0.4 + (random() - 0.5) * 0.2 }));
  const holdout: ReportData['holdout'] = [];
  const noRoi = { value: null, cost: null, roi: null, roiCiLow: null, roiCiHigh: null };
  for (const window of ['last_30_days', 'since_start']) {
    const scale = window === 'since_start' ? 4 : 1;
    holdout.push({ holdout: 'global', window, segment: 'ALL', incremental: 18_400 * scale, ciLow: 6_100 * scale, ciHigh: 30_700 * scale, pValue: 0.003, verdict: 'significant gain', nTreatment: 22_000, nControl: 1_160, value: 21_000 * scale, cost: 5_000 * scale, roi: 3.2, roiCiLow: 0.9, roiCiHigh: 5.5 });
    holdout.push({ holdout: 'global', window, segment: 'Champions', incremental: 9_800 * scale, ciLow: 2_500 * scale, ciHigh: 17_100 * scale, pValue: 0.01, verdict: 'significant gain', nTreatment: 1_800, nControl: 95, ...noRoi });
    holdout.push({ holdout: 'global', window, segment: 'Loyal', incremental: 2_100 * scale, ciLow: -3_900 * scale, ciHigh: 8_100 * scale, pValue: 0.49, verdict: 'inconclusive', nTreatment: 2_470, nControl: 130, ...noRoi });
    holdout.push({ holdout: 'global', window, segment: 'Lost', incremental: -4_200 * scale, ciLow: -7_900 * scale, ciHigh: -500 * scale, pValue: 0.027, verdict: 'significant loss', nTreatment: 3_900, nControl: 205, ...noRoi });
    holdout.push({ holdout: 'global', window, segment: "Can't Lose Them", incremental: 650 * scale, ciLow: -1_400 * scale, ciHigh: 2_700 * scale, pValue: 0.53, verdict: 'inconclusive', nTreatment: 295, nControl: 15, ...noRoi });
    holdout.push({ holdout: 'global', window, segment: ODD, incremental: null, ciLow: null, ciHigh: null, pValue: null, verdict: 'suppressed: fewer than 20 customers in a group', nTreatment: 43, nControl: 2, ...noRoi });
    holdout.push({ holdout: 'email', window, segment: 'ALL', incremental: 3_100 * scale, ciLow: -900 * scale, ciHigh: 7_100 * scale, pValue: 0.13, verdict: 'inconclusive', nTreatment: 20_900, nControl: 1_100, value: 3_900 * scale, cost: 900 * scale, roi: 3.3, roiCiLow: -1.9, roiCiHigh: 8.6 });
  }
  const metrics: Record<string, (i: number) => number | null> = {
    active_customers: (i) => Math.round(21_000 + i * 35 + (random() - 0.5) * 400),
    revenue: (i) => Math.round(58_000 + Math.sin(i / 4) * 9_000 + (random() - 0.5) * 6_000),
    average_order_value: (i) => 61 + Math.sin(i / 9) * 3 + (random() - 0.5) * 2,
    retention_rate: (i) => 0.62 + i * 0.0006 + (random() - 0.5) * 0.01,
    repeat_purchase_rate: () => 0.38 + (random() - 0.5) * 0.006,
    return_rate: (i) => (i === 10 ? null : 0.071 + (random() - 0.5) * 0.01), // a run without returns base
  };
  const kpiTrend = Object.entries(metrics).flatMap(([metric, value]) => Array.from({ length: 60 }, (_, i) => ({ date: shiftDays(date, i - 59), metric, value: value(i) })));
  const roc: ReportData['roc'] = [];
  for (const period of ['1d', '30d']) {
    for (const segment of ['ALL', 'Champions', 'Loyal', 'Lost', "Can't Lose Them", ODD]) {
      const equityStart = 100_000 + random() * 900_000;
      const cashFlow = equityStart * (period === '1d' ? 0.002 : 0.05) * random();
      const equityChange = equityStart * (random() - 0.6) * (period === '1d' ? 0.01 : 0.1);
      roc.push({ period, segment, equityStart, cashFlow, equityChange, roc: (cashFlow + equityChange) / equityStart });
    }
  }
  roc.push({ period: '30d', segment: 'New', equityStart: null, cashFlow: 1_200, equityChange: null, roc: null });
  const forecastAccuracy: ReportData['forecastAccuracy'] = [];
  for (const horizon of [30, 90]) {
    for (let i = 0; i < 60 - horizon / 3; i++) {
      const expected = horizon * 2_000 * (1 + Math.sin(i / 6) * 0.1);
      forecastAccuracy.push({ forecastDate: shiftDays(date, -horizon - (59 - horizon / 3) + i), horizonDays: horizon, expected: i === 5 ? null : expected, actual: expected * (0.9 + random() * 0.2) });
    }
  }
  return {
    date,
    display: { locale: 'en-US', currency: 'EUR' },
    run: { status: 'ok', rowsRead: 1_250_000, rowsAccepted: 1_246_310, rowsRejected: 2_890, rowsDuplicate: 800, customersScored: 22_395, seconds: 184.2 },
    segments,
    migration,
    previousDate: '2024-06-29',
    clvHistogram,
    calibration,
    calibrationModel: 'bgnbd',
    // A year of the cohort's repeat purchases to the run date, the last 90 days after the calibration end.
    tracking: Array.from({ length: 181 }, (_, i) => ({ day: shiftDays(date, i - 180), actual: Math.round(40 * i + 300 * Math.sin(i / 20)), expected: 40 * i })),
    calibrationEnd: '2024-03-31',
    holdoutDays: 90,
    holdout,
    holdoutDaily: Array.from({ length: 30 }, (_, i) => ({ night: shiftDays(date, i - 29), incremental: 2_000 * (i + 1), seqLow: 2_000 * (i + 1) - 40_000 / Math.sqrt(i + 1), seqHigh: 2_000 * (i + 1) + 40_000 / Math.sqrt(i + 1) })),
    holdoutLeaks: 3,
    kpiTrend,
    roc,
    forecastAccuracy,
    crmChannels: [
      { channel: 'email', delivered: 120_400, openRate: 0.221, clickThroughRate: 0.033, unsubscribeRate: 0.003, consented: 15_800, attributedRevenue: 21_300, revenueShare: 0.036, cost: 520 },
      { channel: 'push', delivered: 40_100, openRate: 0.1, clickThroughRate: null, unsubscribeRate: 0, consented: 4_100, attributedRevenue: 2_050, revenueShare: 0.0035, cost: 8 },
      { channel: 'sms', delivered: 9_800, openRate: null, clickThroughRate: 0.04, unsubscribeRate: 0.01, consented: 7_700, attributedRevenue: 4_400, revenueShare: 0.0075, cost: 550 },
      { channel: 'ALL', delivered: 170_300, openRate: 0.18, clickThroughRate: 0.026, unsubscribeRate: 0.003, consented: 18_200, attributedRevenue: 27_750, revenueShare: 0.047, cost: 1_078 },
    ],
    campaigns: [
      { campaign: 'TRG-email', channel: 'email', delivered: 3_100, openRate: 0.9, clickThroughRate: 0.97, attributedOrders: 2_950, attributedRevenue: 180_500, cost: 3.1 },
      { campaign: 'NL-2024-06-18', channel: 'email', delivered: 24_000, openRate: 0.22, clickThroughRate: 0.033, attributedOrders: 310, attributedRevenue: 19_100, cost: 24 },
      { campaign: ODD, channel: 'sms', delivered: 2_000, openRate: null, clickThroughRate: 0.04, attributedOrders: 12, attributedRevenue: 700, cost: 0 },
    ],
    nps: [
      { segment: 'ALL', responses: 965, nps: 3.2, ciLow: -2, ciHigh: 8.4 },
      { segment: 'Champions', responses: 210, nps: 31.5, ciLow: 20.1, ciHigh: 42.9 },
      { segment: 'Lost', responses: 150, nps: -22, ciLow: -35, ciHigh: -9 },
      { segment: ODD, responses: 3, nps: 100, ciLow: 100, ciHigh: 100 },
    ],
    referrals: {
      referrers: 1_240,
      referred: 1_610,
      influence: 402_500,
      top: [
        { customer: 'C0004711', referred: 9, referredRevenue: 3_400, influence: 5_100, ownClv: 880 },
        { customer: 'C<0815>', referred: 4, referredRevenue: 1_200, influence: 2_050, ownClv: null },
      ],
    },
  };
}

function empty(): ReportData {
  return {
    date: '2024-01-01',
    display: { locale: 'en-US', currency: 'EUR' },
    run: { status: 'ok', rowsRead: 0, rowsAccepted: 0, rowsRejected: 0, rowsDuplicate: 0, customersScored: 0, seconds: 0 },
    segments: [],
    migration: [],
    previousDate: null,
    clvHistogram: [],
    calibration: [],
    calibrationModel: null,
    tracking: [],
    calibrationEnd: null,
    holdoutDays: null,
    holdout: [],
    holdoutDaily: [],
    holdoutLeaks: 0,
    kpiTrend: [],
    roc: [],
    forecastAccuracy: [],
    crmChannels: [],
    campaigns: [],
    nps: [],
    referrals: { referrers: 0, referred: 0, influence: 0, top: [] },
  };
}

/** The HTML of each `<section id="…">`, by id. */
function sections(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of html.matchAll(/<section id="([^"]+)"[\s\S]*?<\/section>/g)) out.set(match[1]!, match[0]);
  return out;
}

/** Text a reader could see: tags removed, entities left as they are (they are not "NaN"). */
const visibleText = (html: string) => html.replace(/<style>[\s\S]*?<\/style>/g, '').replace(/<[^>]*>/g, ' ');

describe('renderReport (markup)', () => {
  const html = renderReport(fixture());

  it('is one complete document', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
  });

  it('references nothing outside the file', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    // Only in-page anchors (href="#holdout").
    const targets = [...html.matchAll(/\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi)].map((m) => m[1]!.replace(/^["']|["']$/g, ''));
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((t) => !t.startsWith('#'))).toEqual([]);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
  });

  it('escapes every segment name (and never emits one raw)', () => {
    for (const { segment } of fixture().segments) {
      const escaped = segment.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;');
      expect(html, segment).toContain(escaped);
    }
    expect(html).toContain('VIP &lt;&amp;&gt; &#39;Friends&#39;');
    expect(html).not.toContain('<&>');
    expect(html).not.toContain("Can't");
  });

  it('draws an accessible SVG chart in every chart section', () => {
    const bySection = sections(html);
    expect([...bySection.keys()]).toEqual(SECTIONS);
    for (const id of CHART_SECTIONS) {
      const svgs = bySection.get(id)!.match(/<svg\b[^>]*>\s*<title>[^<]+<\/title>/g) ?? [];
      expect(svgs.length, id).toBeGreaterThan(0);
      for (const svg of svgs) {
        expect(svg, id).toContain('role="img"');
        expect(svg, id).toMatch(/aria-label="[^"]+"/);
        expect(svg, id).toMatch(/viewBox="0 0 \d+(\.\d)? \d+(\.\d)?"/);
      }
    }
    // Every <svg> in the document is one of those (none without a title or role).
    const all = html.match(/<svg\b/g)!.length;
    expect(html.match(/<svg\b[^>]*role="img"[^>]*>\s*<title>/g)!.length).toBe(all);
    expect(all).toBe(3 /* segments */ + 1 + 1 + 1 + 1 /* tracking */ + 2 /* holdout windows */ + 1 /* holdout track record */ + 1 /* CRM channels */ + 1 /* NPS */ + 6 /* KPIs */ + 2 /* ROC periods */ + 2 /* horizons */);
  });

  it('formats numbers for the locale and currency, and never prints NaN', () => {
    expect(html).toContain('1,250,000'); // rows read, grouped
    expect(html).toContain('+€18,400'); // signed money without decimals
    expect(html).toMatch(/\d+\.\d%/); // rates as percentages
    expect(visibleText(html)).not.toMatch(/NaN|Infinity|undefined|null/);
    const german = renderReport({ ...fixture(), display: { locale: 'de-DE', currency: 'EUR' } });
    expect(german).toContain('1.250.000');
    expect(german).toMatch(/\+18\.400\s€/);
  });

  it('colours the migration heatmap by count with readable text', () => {
    const heat = sections(html).get('migration')!;
    expect(heat).toContain('(new)');
    expect(heat).toContain('(gone)');
    // Dark cells carry white text, light ones dark text.
    expect(heat).toMatch(/fill="#ffffff">\d/);
    expect(heat).toMatch(/fill="#24292f">\d/);
  });

  it('warns in the holdout section when control customers were messaged anyway', () => {
    const holdoutHtml = (data: ReportData) => sections(renderReport(data)).get('holdout') ?? '';
    const full = fixture();
    expect(holdoutHtml(full)).toContain('3 control customers were sent CRM messages anyway (table holdout_leaks)');
    expect(holdoutHtml({ ...full, holdoutLeaks: 0 })).not.toContain('sent CRM messages anyway');
  });

  it('states the return on the programme\'s cost per window in words, and why there is none without a cost', () => {
    const holdoutText = (data: ReportData) => visibleText(sections(renderReport(data)).get('holdout') ?? '');
    const full = fixture();
    expect(holdoutText(full)).toMatch(/Since start: CRM returned €3\.20 per €1 of cost, net of it \(95% CI €0\.90 to €5\.50\): incremental value €84,000 against €20,000 of cost/);
    const noCost = { ...full, holdout: full.holdout.map((h) => (h.segment === 'ALL' ? { ...h, cost: 0, roi: null, roiCiLow: null, roiCiHigh: null } : h)) };
    expect(holdoutText(noCost)).toContain('ROI not available: no programme cost in the window');
  });

  it('lists each channel holdout with its value, own cost and ROI, apart from the global holdout\'s charts', () => {
    const holdout = sections(renderReport(fixture())).get('holdout') ?? '';
    const text = visibleText(holdout);
    expect(text).toMatch(/Channel holdouts \(all customers\)/);
    expect(text).toMatch(/email\s+Since start\s+\+€12,400\s+\+€15,600\s+€3,600\s+€3\.30\s+-€1\.90 to €8\.60\s+inconclusive\s+1,100/);
    // The charts and the segment table are the global holdout's: the channel's figure appears in neither.
    expect(holdout.split('Channel holdouts')[0]).not.toContain('12,400');
    const globalOnly = { ...fixture(), holdout: fixture().holdout.filter((h) => h.holdout === 'global') };
    expect(sections(renderReport(globalOnly)).get('holdout')).not.toContain('Channel holdouts');
  });

  it("draws the model's tracking plot, actual against expected, the calibration end marked where it is", () => {
    const calibration = sections(renderReport(fixture())).get('calibration') ?? '';
    expect(calibration).toContain('Cumulative repeat purchases, actual and expected');
    // The mark stands at the last calibration day, 2024-03-31.
    const end = fixture().tracking.findIndex((t) => t.day === '2024-03-31');
    expect(end).toBeGreaterThan(0);
    const d = /<path d="(M[\d.]+ [\d.]+(?:L[\d.]+ [\d.]+){180})"/.exec(calibration)![1]!;
    const xs = d.slice(1).split('L').map((point) => Number(point.split(' ')[0]));
    const line = /<line x1="([\d.]+)" x2="\1" y1="[\d.]+" y2="[\d.]+" stroke="[^"]+" stroke-dasharray="3 3"\/>/.exec(calibration);
    expect(Number(line![1])).toBeCloseTo(xs[end]!, 1);
    expect(visibleText(calibration)).toContain('calibration end');
  });

  it('draws the since-start track record with its confidence sequence as a band', () => {
    const holdout = sections(renderReport(fixture())).get('holdout') ?? '';
    expect(holdout).toContain('Incremental revenue since the start, night by night');
    // The band: one closed, translucent area over the 30 nights.
    expect(holdout.match(/<path d="M[^"]+Z" fill="[^"]+" fill-opacity="0.15"/g)).toHaveLength(1);
  });

  it('shows the CRM programme: channels and their share of revenue, top campaigns, NPS per segment with intervals, referrers', () => {
    const bySection = sections(html);
    const channels = visibleText(bySection.get('crm-channels')!);
    expect(channels).toContain('€27,750'); // all CRM channels' attributed revenue …
    expect(channels).toContain('4.7%'); // … and its share of all revenue
    expect(channels).toContain('All CRM channels');
    const campaigns = visibleText(bySection.get('campaigns')!);
    expect(campaigns.indexOf('TRG-email')).toBeLessThan(campaigns.indexOf('NL-2024-06-18'));
    expect(campaigns).toContain('795.8×'); // NL revenue / cost
    expect(campaigns).toContain('VIP &lt;&amp;&gt;');
    const nps = bySection.get('nps')!;
    expect(nps).toContain('31.5 (20.1 to 42.9)');
    expect(nps).toContain('965 answers');
    const referrals = visibleText(bySection.get('referrals')!);
    expect(referrals).toContain('1,240');
    expect(referrals).toContain('€402,500');
    expect(referrals).toContain('C&lt;0815&gt;');
  });

  it('says "not available yet" instead of drawing empty charts', () => {
    const out = renderReport(empty());
    const bySection = sections(out);
    for (const id of SECTIONS.filter((id) => id !== 'run')) expect(bySection.get(id), id).toMatch(/Not available yet/);
    expect(out).not.toContain('<svg');
    expect(visibleText(out)).not.toMatch(/NaN|Infinity|undefined|null/);
  });

  it('survives non-finite numbers and lone data points', () => {
    const data = fixture();
    data.segments[0]!.monetary = Number.NaN;
    data.clvHistogram = [{ low: 0, high: 0, customers: 10 }];
    data.calibration = [{ bucket: '0', customers: 5, predicted: 0.2, actual: Number.POSITIVE_INFINITY }];
    data.kpiTrend = [{ date: '2024-06-30', metric: 'revenue', value: 1000 }, { date: '2024-06-30', metric: 'return_rate', value: null }];
    data.holdout = [{ holdout: 'global', window: 'since_start', segment: 'ALL', incremental: 0, ciLow: 0, ciHigh: 0, pValue: 1, verdict: 'inconclusive', nTreatment: 1, nControl: 1, value: 0, cost: 0, roi: null, roiCiLow: null, roiCiHigh: null }];
    data.forecastAccuracy = [{ forecastDate: '2024-05-31', horizonDays: 30, expected: 100, actual: 0 }];
    const out = renderReport(data);
    expect(visibleText(out)).not.toMatch(/NaN|Infinity|undefined/);
    expect(out).not.toMatch(/="[^"]*(NaN|Infinity)/); // no NaN coordinates either
  });
});

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && !process.env['CI']) console.warn(`report-html: ${CHROMIUM} not found, skipping the browser check (apt-get install chromium to run it)`);

describe('renderReport (in Chromium)', () => {
  it.skipIf(!hasChromium && !process.env['CI'])('loads offline without errors, lays out every chart and fits a 1366×768 screen', async () => {
    if (!hasChromium) throw new Error(`CI is set but ${CHROMIUM} is missing: install Debian's chromium package for the report browser test`);
    const dir = mkdtempSync(join(tmpdir(), 'report-html-'));
    const file = join(dir, 'index.html');
    writeFileSync(file, renderReport(fixture()));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      const blocked: string[] = [];
      const errors: string[] = [];
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        blocked.push(url);
        return route.abort();
      });
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      // The screenshot first, so that a failing layout check below leaves a picture to look at.
      mkdirSync(ARTIFACTS, { recursive: true });
      copyFileSync(file, join(ARTIFACTS, 'report.html')); // to open by hand beside the screenshot
      const png = join(ARTIFACTS, 'report.png');
      await page.screenshot({ path: png, fullPage: true });
      expect(statSync(png).size).toBeGreaterThan(10_000);

      expect(blocked).toEqual([]);
      expect(errors).toEqual([]);

      const charts = page.locator('svg.chart');
      expect(await charts.count()).toBe(22);
      for (const chart of await charts.all()) {
        const box = await chart.boundingBox();
        expect(box && box.width > 0 && box.height > 0).toBe(true);
        expect(box!.x + box!.width).toBeLessThanOrEqual(1366);
      }
      // Text the charts place by estimate (no font metrics in TypeScript) must stay inside its chart.
      // (Browser code as a string: the project's TypeScript has no DOM types.)
      const outside = await page.evaluate<string[]>(`[...document.querySelectorAll('svg.chart')].flatMap((svg) => {
        const s = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')]
          .filter((t) => { const b = t.getBoundingClientRect(); return b.left < s.left - 1 || b.top < s.top - 1 || b.right > s.right + 1 || b.bottom > s.bottom + 1; })
          .map((t) => svg.querySelector('title').textContent + ': ' + t.textContent);
      })`);
      expect(outside).toEqual([]);
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect(overflow).toBeLessThanOrEqual(0);

    } finally {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
