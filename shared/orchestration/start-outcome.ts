/** What starting a fanned-out night answers (the Step Functions adapter, shared/adapters/step-functions.ts). */

/**
 * `started`: a new execution; `already_started`: the date's execution exists (the schedule or
 * another trigger started it, whatever became of it); `running`: refused because an execution
 * (`name`, of any date) is still running.
 */
export type StartOutcome =
  | { date: string; status: 'started'; name: string; executionArn: string }
  | { date: string; status: 'already_started' | 'running'; name: string };
