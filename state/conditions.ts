/** The fleet's conditions (Ready, Progressing, Degraded), Kubernetes style. Pure: the time is given. */
import type { Condition, ConditionType, HostCounts } from './spec.ts';

export interface ConditionInput {
  desiredRevision: string;
  counts: HostCounts;
  /** live hosts reporting the desired revision and in sync */
  atDesired: number;
  halted: boolean;
  paused: boolean;
  failedAtDesired: number;
  /** a stepped rollout waits out the pause after a step: what to say about it */
  stepPause?: string | undefined;
  previous: Condition[];
  nowIso: string;
}

function condition(input: ConditionInput, type: ConditionType, status: Condition['status'], reason: string,
  message: string): Condition {
  const before = input.previous.find((c) => c.type === type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : input.nowIso;
  return { type, status, reason, message, lastTransitionTime };
}

export function fleetConditions(input: ConditionInput): Condition[] {
  const { counts, desiredRevision: rev } = input;
  const done = counts.total > 0 && input.atDesired === counts.total;
  const progress = `${input.atDesired}/${counts.total} hosts at ${rev}`;
  const ready = done
    ? condition(input, 'Ready', 'True', 'RolloutComplete', progress)
    : condition(input, 'Ready', 'False', counts.total === 0 ? 'NoHosts' : 'RolloutInProgress', progress);
  let progressing: Condition;
  if (done) progressing = condition(input, 'Progressing', 'False', 'RolloutComplete', progress);
  else if (input.halted) progressing = condition(input, 'Progressing', 'False', 'RolloutHalted', progress);
  else if (input.paused) progressing = condition(input, 'Progressing', 'False', 'RolloutPaused', progress);
  else if (input.stepPause !== undefined) progressing = condition(input, 'Progressing', 'False', 'StepPaused', `${progress}; ${input.stepPause}`);
  else progressing = condition(input, 'Progressing', 'True', 'RolloutInProgress', progress);
  const degraded = input.halted
    ? condition(input, 'Degraded', 'True', 'MaxFailuresReached',
      `${input.failedAtDesired} host(s) failed at ${rev}: no new in-service syncs (fix, then retry or deploy another revision)`)
    : condition(input, 'Degraded', counts.failed > 0 ? 'True' : 'False', counts.failed > 0 ? 'HostsFailed' : 'AsExpected',
      counts.failed > 0 ? `${counts.failed} host(s) failed` : 'no failed hosts');
  return [ready, progressing, degraded];
}
