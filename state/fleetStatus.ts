/** The fleet's status as the leader reports it, from its hosts and the rollout plan. Pure: the time is given. */
import { countHosts } from './buckets.ts';
import { fleetConditions } from './conditions.ts';
import type { HostState } from './host.ts';
import type { FleetStatus, RolloutRecord } from './spec.ts';
import { stepLabel } from './steps.ts';

export interface FleetStatusInput {
  generation: number;
  desiredRevision: string;
  paused: boolean;
  /** live hosts (gone ones are left out by countHosts) */
  hosts: Array<{ state: HostState; reportedRevision: string | null }>;
  halted: boolean;
  failedAtDesired: number;
  previous: FleetStatus | null;
  /** items that could not be read, reported on the status */
  errors: string[];
  nowMs: number;
}

/** The next status, and the rollout record when this status is the one that finishes the rollout. */
export function nextFleetStatus(input: FleetStatusInput): { status: FleetStatus; finished: RolloutRecord | null } {
  const { desiredRevision, previous, nowMs } = input;
  const counts = countHosts(input.hosts.map((h) => h.state));
  const atDesired = input.hosts.filter((h) => h.state === 'inSync' && h.reportedRevision === desiredRevision).length;
  const complete = counts.total > 0 && atDesired === counts.total;
  let rollout = previous?.rollout;
  let finished: RolloutRecord | null = null;
  if (complete && rollout && rollout.revision === desiredRevision && rollout.finishedAtMs === undefined) {
    rollout = { ...rollout, finishedAtMs: nowMs };
    finished = rollout;
  }
  const step = rollout?.revision === desiredRevision && rollout.finishedAtMs === undefined ? rollout.step : undefined;
  const stepPause = step?.pauseUntilMs !== undefined
    ? `paused after ${stepLabel(step)} until ${new Date(step.pauseUntilMs).toISOString()} (fleetsync promote goes on now)` : undefined;
  const status: FleetStatus = {
    observedGeneration: input.generation,
    // the revision every live host has reached, when it has; else the last one they all reached
    revision: complete ? desiredRevision : previous?.revision,
    lastAttemptedRevision: desiredRevision,
    hostCounts: counts,
    conditions: fleetConditions({
      desiredRevision, counts, atDesired, halted: input.halted, paused: input.paused,
      failedAtDesired: input.failedAtDesired, stepPause, previous: previous?.conditions ?? [], nowIso: new Date(nowMs).toISOString(),
    }),
    ...(rollout ? { rollout } : {}),
    ...(input.errors.length > 0 ? { errors: input.errors } : {}),
    updatedAtMs: nowMs,
    observedAt: new Date(nowMs).toISOString(),
  };
  return { status, finished };
}
