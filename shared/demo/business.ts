/**
 * The demo's business: an omnichannel fashion retailer (web shop, stores, app) with two years of
 * history, delivered as a CRM analytics product receives it — one initial load of everything up
 * to the day of installation, then one extract per day — and a CRM programme whose effect on the
 * treated group is known, so the holdout analysis can be checked against the truth.
 *
 * The model (all times in days since `historyFrom`; per-day factors are constant within a day):
 * - Acquisition: each customer's first order falls on a day drawn with weight growth × season,
 *   growth rising linearly by `ACQUISITION_GROWTH` a year.
 * - Season: `1 + 0.3·cos(2π(day of year − 355)/365.25)` (December peak, June trough), weekends
 *   ×1.2, and the Black Friday week (Friday after the fourth Thursday of November to Cyber
 *   Monday) ×1.8.
 * - Purchases while alive follow the (M)BG/NBD story: a rate `λ ~ Gamma(r, α)` per day modulated
 *   by the season (thinning), and after every order the customer leaves for good with
 *   probability `p ~ Beta(a, b)`. Spend per order `z ~ Gamma(p_spend, ν)`, `ν ~ Gamma(q, γ)` per
 *   customer (Gamma-Gamma), mean order value `p_spend·γ/(q−1)` = 54 EUR.
 * - Channels: a preferred channel (web 45 %, store 35 %, app 20 % of customers) on 70 % of the
 *   orders, otherwise one of the others. Quantity `1 + Poisson(0.8)` capped at 10. Returns: 8 % of
 *   orders, 1–30 days later, some or all of the items (negative quantity and amount, `-R` id).
 * - The CRM programme, from `programmeStart`: customers of the treated group (the holdout's own
 *   assignment, so the same customers the pipeline calls treated) who are still alive make
 *   *extra* orders at `crmEffect × λ × season`, drawn from a random stream of their own. Each
 *   follows a reminder on the first channel the customer consented to; a customer held out of that
 *   channel (the config's channel holdouts) gets no reminder and makes none of them, so each
 *   channel's true effect is the extra orders its reminders bring. The
 *   business without the programme is therefore exactly the same draws minus these orders
 *   (common random numbers), so the programme's true incremental revenue on any day is the net
 *   amount of the extra orders (and their returns) that day: `truth.incrementalByDay`.
 * - Extracts as upstream systems deliver them: a few malformed lines each night (bad date,
 *   non-numeric amount, missing customer), and a few of the previous day's rows sent again.
 * - The CRM platform's extracts of the same programme (`crm-programme.ts`): profiles, messages
 *   (the extra orders follow clicks), survey answers and costs, delivered like the transactions.
 *
 * Same options ⇒ byte-identical files.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from '../config.js';
import { dayNumber, shiftDate } from '../dates.js';
import { assignGroup } from '../holdout/assign.js';
import { blackFriday, CRM_HEADERS, crmProgramme, money, reminderChannel, stamp, type CrmKind, type DemoCustomer } from './crm-programme.js';
import { createRng, CSV_HEADER, type Rng } from './generate.js';

export interface BusinessOptions {
  /** Output root: `<dir>/<kind>/dt=YYYY-MM-DD/part-NNNNN.csv` for transactions and the CRM platform's four kinds. */
  dir: string;
  customers?: number;
  seed?: number;
  /** First day of the history. */
  historyFrom?: string;
  /** Last day of the initial load, which is delivered as one extract dated this day. */
  initialLoad?: string;
  /** Last daily extract. */
  to?: string;
  /** First day of the CRM programme and of its 95/5 holdout experiment. */
  programmeStart?: string;
  /** Extra purchase rate of treated customers, relative to their own rate (0.1 = +10 %). */
  crmEffect?: number;
  /** Nested holdouts for email, SMS and push (in the programme and in `businessConfig`). */
  channelHoldouts?: boolean;
}

export const BUSINESS_DEFAULTS = {
  customers: 80_000,
  seed: 2024,
  historyFrom: '2022-11-01',
  initialLoad: '2024-10-31',
  to: '2024-11-30',
  programmeStart: '2024-01-01',
  crmEffect: 0.1,
  channelHoldouts: true,
} as const satisfies Required<Omit<BusinessOptions, 'dir'>>;

/** The run configuration the demo is analysed with: the holdout experiment starts with the programme. */
export function businessConfig(options: Pick<BusinessOptions, 'programmeStart' | 'channelHoldouts'> = {}) {
  // A nested holdout per paid channel, so that each one's own return shows beside the programme's.
  const channels = (options.channelHoldouts ?? BUSINESS_DEFAULTS.channelHoldouts) ? { email: { salt: 'demo-email-holdout' }, sms: { salt: 'demo-sms-holdout' }, push: { salt: 'demo-push-holdout' } } : {};
  // The platform's fees and messages are in crm_costs; the CRM manager and the tools beside them
  // are not, and are most of what a programme like this costs (about EUR 180,000 a year).
  return { holdout: { started_at: options.programmeStart ?? BUSINESS_DEFAULTS.programmeStart, channels }, roi: { fixed_cost_per_day: 500 } };
}

export interface BusinessResult {
  customers: number;
  /** Extract dates in the order they are delivered: the initial load, then each day. */
  extractDates: string[];
  orders: number;
  returns: number;
  malformed: number;
  resent: number;
  /** Rows written of each CRM kind. */
  crmRows: Record<CrmKind, number>;
  truth: {
    crmEffect: number;
    programmeStart: string;
    /** Net revenue the programme added (extra orders minus their returns), by order date. */
    incrementalByDay: Record<string, number>;
    /** Control customers the CRM platform sent a message anyway. */
    holdoutLeaks: string[];
  };
}

const PURCHASE = { r: 0.9, alpha: 60, a: 1.2, b: 6 };
const SPEND = { p: 6, q: 5, gamma: 36 };
const ACQUISITION_GROWTH = 0.25;
const CHANNELS = ['web', 'store', 'app'] as const;
const RETURN_RATE = 0.08;
const INITIAL_LOAD_FILES = 4;
const MALFORMED_PER_NIGHT = 2;
const RESENT_PER_NIGHT = 3;

/** Season factor of each day of the simulation. */
function seasonByDay(historyFrom: string, days: number): Float64Array {
  const season = new Float64Array(days);
  for (let d = 0; d < days; d++) {
    const date = new Date(Date.parse(`${shiftDate(historyFrom, d)}T00:00:00Z`));
    const dayOfYear = (date.getTime() - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86_400_000;
    const weekday = date.getUTCDay();
    let s = 1 + 0.3 * Math.cos((2 * Math.PI * (dayOfYear - 355)) / 365.25);
    if (weekday === 0 || weekday === 6) s *= 1.2;
    if (isBlackFridayWeek(date)) s *= 1.8;
    season[d] = s;
  }
  return season;
}

/** Black Friday (the day after the fourth Thursday of November) to Cyber Monday. */
function isBlackFridayWeek(date: Date): boolean {
  const start = blackFriday(date.getUTCFullYear());
  return date.getTime() >= start && date.getTime() < start + 4 * 86_400_000;
}

/** Writes the demo business's extracts and returns what it wrote, with the programme's true effect. */
export async function generateBusiness(options: BusinessOptions): Promise<BusinessResult> {
  const o = { ...BUSINESS_DEFAULTS, ...options };
  const days = dayNumber(o.to) - dayNumber(o.historyFrom) + 1;
  const initialLoadDay = dayNumber(o.initialLoad) - dayNumber(o.historyFrom);
  const programmeDay = dayNumber(o.programmeStart) - dayNumber(o.historyFrom);
  if (!(initialLoadDay >= 0 && initialLoadDay < days)) throw new Error(`initialLoad ${o.initialLoad} is not within ${o.historyFrom}..${o.to}`);
  const holdout = parseConfig(businessConfig(o)).holdout;
  const assignment = { salt: holdout.salt, controlShare: holdout.control_share, hashVersion: holdout.hash_version };
  const channelAssignments = Object.entries(holdout.channels).map(([channel, c]) => [channel, { salt: c.salt, controlShare: c.control_share, hashVersion: holdout.hash_version }] as const);
  const season = seasonByDay(o.historyFrom, days);
  const seasonMax = Math.max(...season);
  const acquisitionWeight = Array.from(season, (s, d) => s * (1 + (ACQUISITION_GROWTH * d) / 365));
  const acquisitionMax = Math.max(...acquisitionWeight);

  // Rows by extract: index 0..INITIAL_LOAD_FILES-1 the initial load's files, then one per later day.
  const extractDates = [o.initialLoad, ...Array.from({ length: days - 1 - initialLoadDay }, (_, i) => shiftDate(o.initialLoad, i + 1))];
  const files: string[][] = Array.from({ length: INITIAL_LOAD_FILES + extractDates.length - 1 }, () => []);
  const fileOf = (t: number, customer: number) => {
    const day = Math.floor(t);
    return day <= initialLoadDay ? customer % INITIAL_LOAD_FILES : INITIAL_LOAD_FILES + day - initialLoadDay - 1;
  };
  const incrementalByDay: Record<string, number> = {};
  const rng = createRng(o.seed);
  const crmRng = createRng(o.seed + 0x63726d); // the programme's own stream ("crm")
  const consentRng = createRng(o.seed + 0x636f6e73); // "cons"
  let transactions = 0;
  let orders = 0;
  let returns = 0;
  const crmCustomers: DemoCustomer[] = [];

  /** Draws the next event time of a season-modulated Poisson process of base rate `rate`, or Infinity. */
  const nextTime = (random: Rng, t: number, rate: number, until: number) => {
    for (;;) {
      t += random.exponential(rate * seasonMax);
      if (!(t < until)) return Infinity;
      if (random.uniform() * seasonMax < season[Math.floor(t)]!) return t;
    }
  };

  for (let c = 0; c < o.customers; c++) {
    const id = `C${String(c + 1).padStart(7, '0')}`;
    let birthDay: number;
    do birthDay = Math.floor(rng.uniform() * days);
    while (rng.uniform() * acquisitionMax >= acquisitionWeight[birthDay]!);
    const lambda = rng.gamma(PURCHASE.r, PURCHASE.alpha);
    const dropout = rng.beta(PURCHASE.a, PURCHASE.b);
    const nu = rng.gamma(SPEND.q, SPEND.gamma);
    const u = rng.uniform();
    const preferred = u < 0.45 ? 0 : u < 0.8 ? 1 : 2;
    const treated = assignGroup(id, assignment) === 'treatment';
    const consent = { email: consentRng.uniform() < 0.7, sms: consentRng.uniform() < 0.35, push: consentRng.uniform() < (preferred === 2 ? 0.6 : 0.1) };
    const heldOutOf = new Set(treated ? channelAssignments.filter(([, a]) => assignGroup(id, a) === 'control').map(([channel]) => channel) : []);
    // An extra order follows a reminder on the first consented channel; held out of it, the customer gets none and does not make it.
    const reached = !heldOutOf.has(reminderChannel(consent, new Set()));
    const customerOrders: DemoCustomer['orders'] = [];

    const order = (random: Rng, t: number, incremental: boolean) => {
      const n = ++transactions;
      orders++;
      customerOrders.push({ t, programme: incremental });
      const txn = `T${String(n).padStart(9, '0')}`;
      const cents = Math.max(1, Math.round(random.gamma(SPEND.p, nu) * 100));
      const quantity = Math.min(10, 1 + random.poisson(0.8));
      const v = random.uniform();
      const channel = CHANNELS[v < 0.7 ? preferred : (preferred + 1 + Math.floor(((v - 0.7) / 0.3) * 2)) % 3]!;
      const [uReturn, uDelay, uItems] = [random.uniform(), random.uniform(), random.uniform()];
      const rows: [number, string, number][] = [[t, `${txn},${id},${stamp(o.historyFrom, t)},${money(cents)},${quantity},${channel},EUR,false`, cents]];
      const returnedAt = t + 1 + uDelay * 29;
      if (uReturn < RETURN_RATE && returnedAt < days) {
        returns++;
        const items = 1 + Math.floor(uItems * quantity);
        const refund = items === quantity ? cents : Math.max(1, Math.round((cents * items) / quantity));
        rows.push([returnedAt, `${txn}-R,${id},${stamp(o.historyFrom, returnedAt)},${money(-refund)},${-items},${channel},EUR,true`, -refund]);
      }
      for (const [at, line, amount] of rows) {
        files[fileOf(at, c)]!.push(line);
        if (incremental) {
          const date = shiftDate(o.historyFrom, Math.floor(at));
          incrementalByDay[date] = (incrementalByDay[date] ?? 0) + amount / 100;
        }
      }
    };

    // The business as it would be without the programme: orders until the customer leaves.
    let t = birthDay + rng.uniform();
    const firstOrder = t;
    let leftAt = days;
    for (;;) {
      order(rng, t, false);
      if (rng.uniform() < dropout) {
        leftAt = t;
        break;
      }
      t = nextTime(rng, t, lambda, days);
      if (t === Infinity) break;
    }
    // The programme's extra orders, while the treated customer is still a customer.
    if (treated && reached && o.crmEffect > 0) {
      for (let x = nextTime(crmRng, Math.max(birthDay, programmeDay), o.crmEffect * lambda, leftAt); x !== Infinity; x = nextTime(crmRng, x, o.crmEffect * lambda, leftAt)) {
        order(crmRng, x, true);
      }
    }
    crmCustomers.push({ id, firstOrder, preferred, treated, consent, heldOutOf, orders: customerOrders.sort((a, b) => a.t - b.t) });
  }

  // What upstream systems add: malformed lines, and rows of the previous day sent again.
  const noise = createRng(o.seed + 0x6e6f6973);
  let malformed = 0;
  let resent = 0;
  const broken = [
    (line: string) => line.replace(/,(\d{4})-\d{2}-\d{2}T/, ',$1-13-45T'),
    (line: string) => line.replace(/,(-?\d+\.\d{2}),/, ',"12,3x",'),
    (line: string) => line.replace(/,C\d{7},/, ',,'),
  ];
  // Backwards, so that the rows a day sends again are its predecessor's own, not ones it re-sent.
  for (let f = files.length - 1; f > INITIAL_LOAD_FILES; f--) {
    const previous = files[f - 1]!;
    for (let k = 1; k <= Math.min(RESENT_PER_NIGHT, previous.length); k++, resent++) files[f]!.push(previous[previous.length - k]!);
  }
  for (let f = 0; f < files.length; f++) {
    const rows = files[f]!;
    for (let k = 0; k < (f >= INITIAL_LOAD_FILES ? MALFORMED_PER_NIGHT : 3) && rows.length > 0; k++) {
      const at = Math.floor(noise.uniform() * rows.length);
      const line = `T${String(++transactions).padStart(9, '0')}${rows[at]!.slice(rows[at]!.indexOf(','))}`;
      rows.splice(at, 0, broken[malformed++ % broken.length]!(line));
    }
  }

  const root = join(o.dir, 'transactions');
  await rm(root, { recursive: true, force: true });
  for (let f = 0; f < files.length; f++) {
    const date = f < INITIAL_LOAD_FILES ? o.initialLoad : extractDates[f - INITIAL_LOAD_FILES + 1]!;
    const name = `part-${String(f < INITIAL_LOAD_FILES ? f : 0).padStart(5, '0')}.csv`;
    await mkdir(join(root, `dt=${date}`), { recursive: true });
    await writeFile(join(root, `dt=${date}`, name), `${CSV_HEADER}\n${files[f]!.join('\n')}\n`);
  }

  // The CRM platform's kinds, one file per extract: the initial load, then each day's.
  const programme = crmProgramme(crmCustomers, { historyFrom: o.historyFrom, days, programmeDay, seed: o.seed });
  const crmRows = {} as Record<CrmKind, number>;
  for (const kind of Object.keys(CRM_HEADERS) as CrmKind[]) {
    const byExtract: string[][] = extractDates.map(() => []);
    for (const [at, line] of programme.rows[kind]) if (at < days) byExtract[Math.max(0, Math.floor(at) - initialLoadDay)]!.push(line);
    const kindRoot = join(o.dir, kind);
    await rm(kindRoot, { recursive: true, force: true });
    for (const [e, lines] of byExtract.entries()) {
      await mkdir(join(kindRoot, `dt=${extractDates[e]}`), { recursive: true });
      await writeFile(join(kindRoot, `dt=${extractDates[e]}`, 'part-00000.csv'), `${CRM_HEADERS[kind]}\n${lines.map((l) => `${l}\n`).join('')}`);
    }
    crmRows[kind] = byExtract.reduce((sum, lines) => sum + lines.length, 0);
  }
  return {
    customers: o.customers,
    extractDates,
    orders,
    returns,
    malformed,
    resent,
    crmRows,
    truth: { crmEffect: o.crmEffect, programmeStart: o.programmeStart, incrementalByDay, holdoutLeaks: programme.holdoutLeaks },
  };
}
