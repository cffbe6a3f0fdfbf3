/**
 * What a table's `build` may use: the run's engine, the night's shared intermediates (the customer
 * facts from the one pass over the history first) and the earlier runs' partitions. The pipeline
 * builds these once a night, then every table.
 */
import type { Table } from '../catalog.js';
import { readParquet } from '../sql/dialect.js';
import type { Config } from '../config.js';
import type { FactsNeeds } from '../history/customer-facts.js';
import type { SqlEngine } from '../engine/sql-engine.js';
import type { IngestCounts } from '../ingest/ingest.js';
import type { SourceKind } from '../ingest/kinds.js';
import type { ObjectInfo } from '../store/object-store.js';

/** What the ingest's tables (transactions, rejects) are built from, in the run's first phase. */
export interface IngestContext {
  readonly engine: SqlEngine;
  readonly config: Config;
}

export interface BuildContext extends IngestContext {
  readonly date: string;
  /**
   * The night's shared intermediates, as relations of the embedded engine. First the customer facts
   * (`shared/history/customer-facts.ts`, with what every table's `facts` asked for): one row per
   * customer …
   */
  readonly customers: string;
  /** … and one per customer and sales channel. */
  readonly channels: string;
  /** The RFM scores of every customer with a purchase. */
  readonly rfmScores: string;
  /**
   * What tonight changes in the orders credited to CRM messages (`shared/crm/attribution-sql.ts`):
   * `delta` has day (of the order), campaign_id, channel, attributed_orders and attributed_revenue,
   * signed (an order a late event credits to another message leaves its first one), to be added to
   * campaign_daily's partition of `carriedFrom`, or to nothing when that is undefined.
   */
  readonly attribution: { readonly delta: string; readonly carriedFrom: string | undefined };
  /** RFM scores with the CLV predictions: customer_scores as published. */
  readonly scored: string;
  /** The holdout assignment of every customer in the history. */
  readonly assignment: string;
  /** The run itself, for the tables that describe it. */
  readonly run: {
    readonly runId: string;
    readonly startedAt: string;
    readonly extract: readonly ObjectInfo[];
    readonly counts: IngestCounts;
    readonly customersScored: number;
    readonly fits: readonly Record<string, string | number | boolean | null>[];
    readonly status: 'succeeded' | 'empty_extract';
  };
  now(): Date;
  /**
   * This run's partition of a table written before the one being built, as a relation: the ingest's
   * (transactions, the CRM kinds' histories) or one earlier in TABLES (a missing file fails the night).
   */
  written(table: Table): string;
  /** Earlier runs' partitions of a table, by date (listed once per table). */
  earlier(table: Table): Promise<Map<string, ObjectInfo>>;
  /** The local file of an earlier run's partition (fetched once). */
  fetch(table: Table, date: string): Promise<string>;
}

/** A published table: its catalog entry and checks, and the SQL that builds it from a night's intermediates. */
export type TableModel = Table &
  (
    | {
        /** Built by the ingest, in the run's first phase. */
        readonly phase: 'ingest';
        build(ctx: IngestContext): Promise<string> | string;
        /** The relation's row order is already fixed (no sort by orderBy when written). */
        readonly keepsBuildOrder?: true;
        /** The CRM kind whose extract it holds (ingested after the transactions, one kind at a time). */
        readonly source?: SourceKind['name'];
      }
    | {
        readonly phase?: undefined;
        /** What the table needs from the night's pass over the history, for the run's configuration and date. */
        readonly facts?: (config: Config, date: string) => FactsNeeds;
        build(ctx: BuildContext): Promise<string> | string;
      }
  );

/** An earlier run's partition of a table as a relation of the embedded engine, when that run exists. */
export async function earlierPartition(ctx: BuildContext, table: Table, date: string): Promise<string | undefined> {
  return (await ctx.earlier(table)).has(date) ? `SELECT * FROM ${readParquet([await ctx.fetch(table, date)])}` : undefined;
}

/** The earlier runs' partitions of a history table the ingest writes, as one relation; undefined before the first run. */
export async function earlierHistory(ctx: BuildContext, table: Table): Promise<string | undefined> {
  const earlier = await Promise.all([...(await ctx.earlier(table)).keys()].map((day) => ctx.fetch(table, day)));
  return earlier.length ? `SELECT * FROM ${readParquet(earlier)}` : undefined;
}

/** Every partition of a history table the ingest writes, up to and including this run's, as one relation. */
export async function wholeHistory(ctx: BuildContext, table: Table): Promise<string> {
  const earlier = await earlierHistory(ctx, table);
  return [...(earlier ? [earlier] : []), ctx.written(table)].join('\nUNION ALL\n');
}
