/**
 * The `/crm` slash command's language: parsing the text a user typed into a command, and the help
 * that lists them. Pure; the Lambda and the local `crm-metrics slack` share it.
 */
import { isCalendarDate } from '../dates.js';
import { clip } from './blocks.js';

export type SlackCommand =
  | { name: 'help' }
  | { name: 'run'; date?: string; force: boolean }
  | { name: 'status' }
  | { name: 'segments'; date?: string }
  | { name: 'holdout'; date?: string; segment?: string }
  | { name: 'customer'; id: string }
  | { name: 'top'; n: number; by: TopBy }
  | { name: 'campaigns'; n: number }
  | { name: 'nps'; date?: string }
  | { name: 'roi'; date?: string };

/** What `top` ranks by: own CLV, net revenue, or CLV plus the value through referrals. */
export const TOP_BY = ['clv', 'revenue', 'value'] as const;
export type TopBy = (typeof TOP_BY)[number];

export const COMMAND_HELP: Record<SlackCommand['name'], string> = {
  help: 'help: this list',
  run: 'run [YYYY-MM-DD] [--force]: run the nightly pipeline for a date (default yesterday); --force replaces a published run',
  status: 'status: the last runs with duration, rows, rejects and outcome',
  segments: 'segments [YYYY-MM-DD]: customers, revenue and average CLV per segment and grade, and the moves since the previous run',
  holdout: 'holdout [YYYY-MM-DD] [segment]: incremental revenue from CRM against the control group, with its 95% CI',
  customer: "customer <id>: a customer's RFM scores, segment, CLV, probability alive and holdout group",
  top: 'top [n] [by clv|revenue|value]: the n (default 10, at most 50) most valuable customers; value = CLV + value through referrals',
  campaigns: 'campaigns [n]: the n (default 10, at most 50) campaigns with the most attributed revenue, with their funnel and cost',
  nps: 'nps [YYYY-MM-DD]: Net Promoter Score of the KPI period, overall and per segment, with its 95% CI',
  roi: 'roi [YYYY-MM-DD]: what the CRM programme returned per unit of cost, net of it, per holdout window, with its 95% CI',
};

export const TOP_MAX = 50;

/** A command the user can fix: the message says what was wrong and how it is used. */
export class CommandError extends Error {
  override name = 'CommandError';
}

/**
 * What the user typed, quoted in an error: cut short so that the usage after it still shows (the
 * block builders would cut a long message at Slack's limit, and with it the part that helps).
 */
const quoted = (text: string) => `"${clip(text, 40)}"`;

/** Words of the text; "double" or “curly” quotes group words (segment names have spaces). */
function words(text: string): string[] {
  return [...text.matchAll(/["“”]([^"“”]*)["“”]|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function date(word: string | undefined, command: SlackCommand['name']): string {
  if (!word || !isCalendarDate(word)) throw new CommandError(`${quoted(word ?? '')} is not a date (YYYY-MM-DD). Usage: ${COMMAND_HELP[command]}`);
  return word;
}

const looksLikeDate = (word: string | undefined) => word !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(word);

/** A list's leading length (default 10), taken off `rest`: 1 to TOP_MAX. */
function count(rest: string[], command: string, what: string): number {
  const n = rest[0] !== undefined && /^\d+$/.test(rest[0]) ? Number(rest.shift()) : 10;
  if (n < 1 || n > TOP_MAX) throw new CommandError(`${command} takes 1 to ${TOP_MAX} ${what}, not ${n}`);
  return n;
}

export function parseCommand(text: string): SlackCommand {
  const [first, ...rest] = words(text.trim());
  const name = (first ?? 'help').toLowerCase();
  const usage = () => COMMAND_HELP[name as SlackCommand['name']];
  const noMore = (extra: string[]) => {
    if (extra.length) throw new CommandError(`unexpected ${quoted(extra.join(' '))}. Usage: ${usage()}`);
  };
  switch (name) {
    case 'help':
      return { name: 'help' };
    case 'status':
      noMore(rest);
      return { name: 'status' };
    case 'run': {
      const force = rest.includes('--force');
      const others = rest.filter((w) => w !== '--force');
      const day = others.length ? date(others.shift(), 'run') : undefined;
      noMore(others);
      return { name: 'run', force, ...(day ? { date: day } : {}) };
    }
    case 'segments': {
      const day = rest.length ? date(rest.shift(), 'segments') : undefined;
      noMore(rest);
      return { name: 'segments', ...(day ? { date: day } : {}) };
    }
    case 'holdout': {
      const day = looksLikeDate(rest[0]) ? date(rest.shift(), 'holdout') : undefined;
      const segment = rest.join(' ').trim();
      return { name: 'holdout', ...(day ? { date: day } : {}), ...(segment ? { segment } : {}) };
    }
    case 'customer': {
      const id = rest.join(' ').trim();
      if (!id) throw new CommandError(`which customer? Usage: ${usage()}`);
      return { name: 'customer', id };
    }
    case 'top': {
      const n = count(rest, 'top', 'customers');
      let by: TopBy = 'clv';
      if (rest[0]?.toLowerCase() === 'by') {
        rest.shift();
        const what = rest.shift()?.toLowerCase();
        if (!TOP_BY.includes(what as TopBy)) throw new CommandError(`top is by ${TOP_BY.join(', ')}, not ${quoted(what ?? '')}. Usage: ${usage()}`);
        by = what as TopBy;
      }
      noMore(rest);
      return { name: 'top', n, by };
    }
    case 'campaigns': {
      const n = count(rest, 'campaigns', 'campaigns');
      noMore(rest);
      return { name: 'campaigns', n };
    }
    case 'nps': {
      const day = rest.length ? date(rest.shift(), 'nps') : undefined;
      noMore(rest);
      return { name: 'nps', ...(day ? { date: day } : {}) };
    }
    case 'roi': {
      const day = rest.length ? date(rest.shift(), 'roi') : undefined;
      noMore(rest);
      return { name: 'roi', ...(day ? { date: day } : {}) };
    }
    default:
      throw new CommandError(`unknown command ${quoted(first ?? '')}. Try: ${Object.keys(COMMAND_HELP).join(', ')} (or "help").`);
  }
}
