/**
 * Starting the fanned-out night on AWS Step Functions (the state machine of
 * infra/constructs/fanned-out-night.ts). Kept apart from the pipeline so that what only starts a
 * night (the schedule's `start` function, the Slack worker) does not load the engine.
 */
import { ExecutionAlreadyExists, ListExecutionsCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { StartOutcome } from '../orchestration/start-outcome.js';

/**
 * One night at a time, as the single function's reserved concurrency of 1 ensures: a night reads
 * earlier nights' partitions, which a re-run of an earlier date would be replacing meanwhile. So
 * nothing starts while an execution runs (a scheduled night refused so is logged, and the
 * no-successful-run alarm tells if it stays missing). The check and the start are two calls: two
 * triggers in the same instant may both pass it, which the names settle for one date.
 *
 * The execution's name is the run date: Step Functions refuses a second execution of a name
 * (for 90 days), so a doubled or retried trigger cannot run a date twice. A forced re-run gets a
 * suffixed name.
 */
export async function startNight(
  request: { date: string; force: boolean; allowGaps?: boolean },
  client: SFNClient,
  stateMachineArn: string,
  now = Date.now(),
): Promise<StartOutcome> {
  const { date, force, allowGaps } = request;
  const running = await client.send(new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING', maxResults: 1 }));
  const busy = running.executions?.[0];
  if (busy) return { date, status: 'running', name: busy.name! };
  const name = force ? `${date}-force-${now}` : date;
  try {
    const started = await client.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify({ date, force, ...(allowGaps ? { allowGaps } : {}) }) }));
    return { date, status: 'started', name, executionArn: started.executionArn! };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return { date, status: 'already_started', name };
    throw error;
  }
}
