/**
 * The demo retailer's CRM platform, as it exports the programme: customer profiles, messages,
 * survey answers and costs, in the input contract's four kinds (`customers`, `crm_events`,
 * `surveys`, `crm_costs`), consistent with the transactions of `business.ts`.
 *
 * - Profiles: every customer signs up in the 14 days before the first order, with consents for
 *   email (70 %), SMS (35 %) and push (60 % of app-first customers, 10 % of the others; drawn in
 *   business.ts); 8 % were referred by a customer who signed up earlier (so referrals form no
 *   cycle). An unsubscribe writes the profile again, with that consent withdrawn.
 * - Messages go to the treated group only (the holdout's own assignment), never on a channel whose
 *   nested holdout the customer is in (the demo config's channel holdouts), from the programme's
 *   start: a newsletter every other Tuesday (email, to 15 % of the consented customers each time),
 *   an SMS on each month's first Thursday (20 %) and on Black Friday (all), a push every other
 *   Saturday (30 %). A send is delivered or bounces (push: or is lost); a delivered email is
 *   opened (22 %) and then clicked (15 % of opens), an SMS clicked (4 %), a push opened (10 %);
 *   unsubscribes (email 0.3 %, SMS 1 % of deliveries) and complaints (email 0.03 %).
 * - Clicks raise purchase odds: each of the programme's extra orders (business.ts) follows a click
 *   on a triggered message (`TRG-<channel>`, an abandoned-basket reminder by email if consented,
 *   else SMS, else push, else in-app, skipping channels the customer is held out of) sent 0.2 to
 *   3 days before the order and clicked 15 minutes to 5 hours before it: what a last-click
 *   attribution should find.
 * - The exclusion export is not always honoured: 0.3 % of the email-consented control customers
 *   receive one newsletter (`holdoutLeaks`).
 * - Surveys: after 4 % of all customers' orders (a service survey, not CRM marketing: the control
 *   group answers too), an NPS score 1 to 5 days later from the customer's own satisfaction.
 * - Costs: each send priced (email EUR 0.001, SMS 0.05, push 0.0002, in-app nothing), one row per
 *   campaign, channel and day; the platforms' monthly fees (email EUR 400, SMS 60, push 150) on the 1st.
 *
 * Own random streams: the transactions are the same draws with or without this file.
 */
import { shiftDate } from '../dates.js';
import { createRng, type Rng } from './generate.js';

/** Header line of each kind's CSV extract (the input contract's canonical names). */
export const CRM_HEADERS = {
  customers: 'customer_id,updated_at,signed_up_at,referred_by,acquisition_channel,email_consent,sms_consent,push_consent',
  crm_events: 'event_id,customer_id,occurred_at,channel,campaign_id,event_type',
  surveys: 'response_id,customer_id,answered_at,score,survey',
  crm_costs: 'cost_date,channel,campaign_id,amount,currency',
} as const;
export type CrmKind = keyof typeof CRM_HEADERS;

/** What the programme needs to know of a customer of the business. */
export interface DemoCustomer {
  id: string;
  /** Time of the first order, in days since the history's first day. */
  firstOrder: number;
  /** Preferred sales channel: 0 web, 1 store, 2 app. */
  preferred: number;
  treated: boolean;
  /** Consents at sign-up (drawn with the business: they decide which reminder an extra order follows). */
  consent: Consents;
  /** The channels whose nested holdout the (treated) customer is in: never sent on them. */
  heldOutOf: ReadonlySet<string>;
  /** The customer's orders (returns left out), in time order; `programme` marks the programme's extra ones. */
  orders: { t: number; programme: boolean }[];
}

export interface ProgrammeOptions {
  historyFrom: string;
  /** Days simulated: rows at or after this time are not delivered yet. */
  days: number;
  programmeDay: number;
  seed: number;
}

/** Rows of each kind with the time (days since the history's first day) that decides their extract. */
export interface ProgrammeRows {
  rows: Record<CrmKind, [t: number, line: string][]>;
  /** Control customers who were sent a message. */
  holdoutLeaks: string[];
}

type Channel = 'email' | 'sms' | 'push' | 'in_app';
export type Consents = Record<'email' | 'sms' | 'push', boolean>;

/** The channel of the triggered reminder an extra order follows: the first consented one not held out, else in-app. */
export function reminderChannel(consent: Consents, heldOutOf: ReadonlySet<string>): Channel {
  return (['email', 'sms', 'push'] as const).find((channel) => consent[channel] && !heldOutOf.has(channel)) ?? 'in_app';
}

const DELIVERED: Record<Channel, number> = { email: 0.97, sms: 0.98, push: 0.92, in_app: 1 };
/** Price of a send in thousandths of a cent. */
const PRICE_MILLICENTS: Record<Channel, number> = { email: 100, sms: 5000, push: 20, in_app: 0 };
const MONTHLY_FEES = [
  ['email', '400.00'],
  ['sms', '60.00'],
  ['push', '150.00'],
] as const;
const MINUTE = 1 / 1440;

/** Cents as a decimal amount ("-12.05"). */
export const money = (cents: number) => `${cents < 0 ? '-' : ''}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`;

const dates = new Map<string, string>();
const two = (n: number) => String(n).padStart(2, '0');

/** A time in days since `historyFrom` as an ISO date-time (UTC, whole seconds). */
export const stamp = (historyFrom: string, t: number) => {
  const day = Math.floor(t);
  const seconds = Math.min(86_399, Math.floor((t - day) * 86_400));
  // Dates cached: a million rows would otherwise each build a Date to name their day.
  const key = `${historyFrom}+${day}`;
  let date = dates.get(key);
  if (date === undefined) dates.set(key, (date = shiftDate(historyFrom, day)));
  return `${date}T${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
};

/** Black Friday of a year (the day after the fourth Thursday of November), as epoch milliseconds. */
export function blackFriday(year: number): number {
  const firstThursday = 1 + ((4 - new Date(Date.UTC(year, 10, 1)).getUTCDay() + 7) % 7);
  return Date.UTC(year, 10, firstThursday + 22);
}

interface Campaign {
  id: string;
  channel: 'email' | 'sms' | 'push';
  day: number;
  /** Share of the consented treated customers it is sent to. */
  audience: number;
}

/** The programme's campaigns, in day order. */
function campaigns({ historyFrom, days, programmeDay }: ProgrammeOptions): Campaign[] {
  const list: Campaign[] = [];
  for (let day = programmeDay; day < days; day++) {
    const iso = shiftDate(historyFrom, day);
    const date = new Date(`${iso}T00:00:00Z`);
    const [weekday, dayOfMonth] = [date.getUTCDay(), date.getUTCDate()];
    const fortnight = Math.floor((day - programmeDay) / 7) % 2 === 0;
    const tag = iso.replaceAll('-', '');
    if (weekday === 2 && fortnight) list.push({ id: `NL-${tag}`, channel: 'email', day, audience: 0.15 });
    if (weekday === 4 && dayOfMonth <= 7) list.push({ id: `SMS-${tag}`, channel: 'sms', day, audience: 0.2 });
    if (date.getTime() === blackFriday(date.getUTCFullYear())) list.push({ id: `BF-${tag}`, channel: 'sms', day, audience: 1 });
    if (weekday === 6 && fortnight) list.push({ id: `PUSH-${tag}`, channel: 'push', day, audience: 0.3 });
  }
  return list;
}

/** The CRM platform's rows for the business's customers (see the module comment). */
export function crmProgramme(customers: readonly DemoCustomer[], o: ProgrammeOptions): ProgrammeRows {
  const rows: ProgrammeRows['rows'] = { customers: [], crm_events: [], surveys: [], crm_costs: [] };
  const holdoutLeaks: string[] = [];
  const at = (t: number) => stamp(o.historyFrom, t);
  const profiles = createRng(o.seed + 0x70726f66); // "prof"
  const messages = createRng(o.seed + 0x6d736773); // "msgs"
  const answers = createRng(o.seed + 0x73757276); // "surv"

  // Sign-ups first: a referrer must have signed up before the customer it referred.
  const signup = customers.map((c) => Math.max(0, c.firstOrder - profiles.uniform() * 14));
  const origins: { referrer: string; acquisition: string }[] = [];
  for (const [i, c] of customers.entries()) {
    const consent = c.consent;
    let referrer = '';
    if (profiles.uniform() < 0.08) {
      for (let attempt = 0; attempt < 5 && !referrer; attempt++) {
        const j = Math.floor(profiles.uniform() * customers.length);
        if (signup[j]! < signup[i]!) referrer = customers[j]!.id;
      }
    }
    const acquisition = referrer ? 'referral' : c.preferred === 1 ? 'store' : c.preferred === 2 ? 'app_store' : profiles.uniform() < 0.6 ? 'organic_search' : 'paid_social';
    origins.push({ referrer, acquisition });
    rows.customers.push([signup[i]!, profileLine(c.id, at(signup[i]!), at(signup[i]!), origins[i]!, consent)]);
  }

  let eventNumber = 0;
  const sends = new Map<string, number>();
  const event = (customer: string, t: number, channel: Channel, campaign: string, type: string) => {
    rows.crm_events.push([t, `E${String(++eventNumber).padStart(10, '0')},${customer},${at(t)},${channel},${campaign},${type}`]);
    if (type === 'sent') {
      const key = `${Math.floor(t)},${channel},${campaign}`;
      sends.set(key, (sends.get(key) ?? 0) + 1);
    }
  };
  /** A campaign send and what the customer does with it; returns when they unsubscribed, if they did. */
  const send = (customer: string, t: number, channel: Channel, campaign: string, random: Rng): number | undefined => {
    event(customer, t, channel, campaign, 'sent');
    if (random.uniform() >= DELIVERED[channel]) {
      if (channel === 'email' || channel === 'sms') event(customer, t + 2 * MINUTE, channel, campaign, 'bounced');
      return undefined;
    }
    const delivered = t + (1 + 4 * random.uniform()) * MINUTE;
    event(customer, delivered, channel, campaign, 'delivered');
    const [uOpen, uClick, uLeave, uWhen] = [random.uniform(), random.uniform(), random.uniform(), random.uniform()];
    let left: number | undefined;
    if (channel === 'email') {
      if (uOpen < 0.22) {
        const opened = delivered + random.exponential(2);
        event(customer, opened, channel, campaign, 'opened');
        if (uClick < 0.15) event(customer, opened + uWhen * 10 * MINUTE, channel, campaign, 'clicked');
      }
      if (uLeave < 0.0003) event(customer, delivered + uWhen, channel, campaign, 'complained');
      if (uLeave < 0.003) left = delivered + uWhen + MINUTE;
    } else if (channel === 'sms') {
      if (uClick < 0.04) event(customer, delivered + uWhen / 24, channel, campaign, 'clicked');
      if (uLeave < 0.01) left = delivered + uWhen / 24 + MINUTE;
    } else if (channel === 'push' && uOpen < 0.1) {
      event(customer, delivered + (uWhen * 2) / 24, channel, campaign, 'opened');
    }
    if (left !== undefined) event(customer, left, channel, campaign, 'unsubscribed');
    return left;
  };

  const schedule = campaigns(o);
  for (const [i, c] of customers.entries()) {
    const consent = { ...c.consent };
    const signedUp = signup[i]!;
    if (!c.treated) {
      // A control customer the sending tool was not told to exclude gets one newsletter.
      const leak = messages.uniform() < 0.003 && consent.email ? schedule.find((k) => k.channel === 'email' && k.day >= signedUp) : undefined;
      if (leak) {
        send(c.id, leak.day + (9 + messages.uniform()) / 24, 'email', leak.id, messages);
        holdoutLeaks.push(c.id);
      }
      continue;
    }
    // Campaigns and the programme's orders in time order: an unsubscribe stops later sends.
    const programmeOrders = c.orders.filter((order) => order.programme).map((order) => order.t);
    let next = 0;
    /** The triggered reminder an extra order follows: sent, delivered, (opened,) clicked, all before the order at x. */
    const remind = (x: number) => {
      const channel = reminderChannel(consent, c.heldOutOf);
      const sent = Math.min(Math.max(o.programmeDay, Math.min(signedUp, x), x - (0.2 + 2.8 * messages.uniform())), x - 4 * MINUTE);
      const delivered = sent + MINUTE;
      const clicked = Math.max(x - (0.25 + 4.75 * messages.uniform()) / 24, (delivered + x) / 2);
      const campaign = `TRG-${channel}`;
      event(c.id, sent, channel, campaign, 'sent');
      event(c.id, delivered, channel, campaign, 'delivered');
      if (channel !== 'sms') event(c.id, (delivered + clicked) / 2, channel, campaign, 'opened');
      event(c.id, clicked, channel, campaign, 'clicked');
    };
    for (const k of schedule) {
      const t = k.day + (9 + messages.uniform()) / 24;
      while (next < programmeOrders.length && programmeOrders[next]! < t) remind(programmeOrders[next++]!);
      if (k.day < signedUp || !consent[k.channel] || c.heldOutOf.has(k.channel) || messages.uniform() >= k.audience) continue;
      const left = send(c.id, t, k.channel, k.id, messages);
      if (left !== undefined) {
        consent[k.channel] = false;
        rows.customers.push([left, profileLine(c.id, at(left), at(signedUp), origins[i]!, consent)]);
      }
    }
    while (next < programmeOrders.length) remind(programmeOrders[next++]!);
  }

  // Survey answers after orders, from each customer's own satisfaction.
  let responseNumber = 0;
  for (const c of customers) {
    const satisfaction = answers.beta(4, 1.6);
    for (const order of c.orders) {
      if (answers.uniform() >= 0.04) continue;
      const t = order.t + 1 + 4 * answers.uniform();
      const score = Math.min(10, Math.floor(Math.min(0.9999, Math.max(0, satisfaction + 0.15 * (answers.uniform() - 0.5))) * 11));
      rows.surveys.push([t, `S${String(++responseNumber).padStart(9, '0')},${c.id},${at(t)},${score},post_purchase`]);
    }
  }

  // Costs: each day's sends by campaign and channel, then the monthly fees.
  for (const [key, count] of sends) {
    const [day, channel, campaign] = key.split(',') as [string, Channel, string];
    const cents = Math.round((count * PRICE_MILLICENTS[channel]) / 1000);
    if (cents > 0) rows.crm_costs.push([Number(day) + 0.99, `${shiftDate(o.historyFrom, Number(day))},${channel},${campaign},${money(cents)},EUR`]);
  }
  for (let day = o.programmeDay; day < o.days; day++) {
    const date = shiftDate(o.historyFrom, day);
    if (date.endsWith('-01')) for (const [channel, fee] of MONTHLY_FEES) rows.crm_costs.push([day + 0.99, `${date},${channel},,${fee},EUR`]);
  }
  return { rows, holdoutLeaks };
}

/** A profile row: the whole profile as of `updatedAt` (a change, e.g. an unsubscribe, repeats the rest). */
function profileLine(id: string, updatedAt: string, signedUpAt: string, origin: { referrer: string; acquisition: string }, consent: Consents): string {
  return `${id},${updatedAt},${signedUpAt},${origin.referrer},${origin.acquisition},${consent.email},${consent.sms},${consent.push}`;
}
