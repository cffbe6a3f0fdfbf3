/**
 * Starting the fanned-out night on AWS Step Functions (the state machine of infra/stack.ts). Kept
 * apart from the pipeline so that what only starts a night (the schedule's `start` function, the
 * Slack worker) does not load the engine.
 */
import { ExecutionAlreadyExists, ListExecutionsCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';

/**
 * `started`: a new execution; `already_started`: the date's execution exists (the schedule or
 * another trigger started it, whatever became of it); `running`: a forced re-run was refused
 * because an execution of the date is still running.
 */
export type StartOutcome =
  | { date: string; status: 'started'; name: string; executionArn: string }
  | { date: string; status: 'already_started' | 'running'; name: string };

/**
 * The execution's name is the run date: Step Functions refuses a second execution of a name
 * (for 90 days), so a doubled or retried trigger cannot start an interleaving run. A forced re-run
 * gets a suffixed name, and only while no execution of the date is running.
 */
export async function startNight(
  request: { date: string; force: boolean },
  client: SFNClient,
  stateMachineArn: string,
  now = Date.now(),
): Promise<StartOutcome> {
  const { date, force } = request;
  if (force) {
    const running = await client.send(new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING' }));
    const same = running.executions?.find((e) => e.name === date || e.name?.startsWith(`${date}-force-`));
    if (same) return { date, status: 'running', name: same.name! };
  }
  const name = force ? `${date}-force-${now}` : date;
  try {
    const started = await client.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify({ date, force }) }));
    return { date, status: 'started', name, executionArn: started.executionArn! };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return { date, status: 'already_started', name };
    throw error;
  }
}
