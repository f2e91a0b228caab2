/**
 * The rollout policy: which queued hosts may start an attempt now, and at which revision. Pure.
 */
import type { HostState } from './host.ts';
import type { RolloutSpec } from './spec.ts';
import { resolveMaxUnavailable } from './validate.ts';

export interface RolloutHost {
  instanceId: string;
  state: HostState;
  launching: boolean;
  reportedRevision: string | null;
  failedRevision: string | null;
  /** out of its target groups (drained) and not yet registered again: unavailable whatever its state */
  deregistered?: boolean;
}

export interface RolloutInput {
  desiredRevision: string;
  /** the last revision the whole fleet reached, if any */
  lastCompleteRevision: string | null;
  rollout: RolloutSpec;
  /** in-service hosts when this rollout started: the base of a percent maxUnavailable */
  inServiceAtStart: number;
  hosts: RolloutHost[];
  /** hosts granted a slot that have not taken it yet (their GRANT is not applied and stored) */
  pendingGrants?: ReadonlySet<string>;
  /** this rollout was halted before (the halt holds until a new generation, whatever the hosts say now) */
  haltedBefore?: boolean;
  /** a stepped rollout: in-service hosts its current step may still grant (see steps.ts); absent: no steps */
  stepAllowance?: number;
}

export interface RolloutPlan {
  grants: Array<{ instanceId: string; targetRevision: string }>;
  /** the revision a launching host is synced to now */
  launchTarget: string;
  maxUnavailable: number;
  unavailable: number;
  launchingInFlight: number;
  failedAtDesired: number;
  halted: boolean;
  paused: boolean;
  /** set when autoRollback applies: the revision to go back to */
  rollbackTo: string | null;
}

const IN_FLIGHT: ReadonlySet<HostState> = new Set(['draining', 'syncing', 'verifying', 'restoring', 'attemptFailed', 'cancelling']);

export function planRollout(input: RolloutInput): RolloutPlan {
  const { rollout, desiredRevision, lastCompleteRevision } = input;
  const pending = input.pendingGrants ?? new Set<string>();
  const maxUnavailable = resolveMaxUnavailable(rollout.maxUnavailable, input.inServiceAtStart);

  let unavailable = 0;
  let launchingInFlight = 0;
  let failedAtDesired = 0;
  for (const host of input.hosts) {
    // A grant is a slot until the host takes it, whatever its state meanwhile (its save may have failed).
    if (IN_FLIGHT.has(host.state) || pending.has(host.instanceId) || host.deregistered === true) {
      if (host.launching) launchingInFlight += 1;
      else unavailable += 1;
    }
    if (host.state === 'failed' && host.failedRevision === desiredRevision) failedAtDesired += 1;
  }

  const halted = failedAtDesired >= rollout.maxFailures || input.haltedBefore === true;
  const paused = rollout.paused;
  // New instances are always synced: while the rollout cannot move, to what the whole fleet last reached,
  // so the group never replaces them in a loop because a rollout is stuck.
  const launchTarget = (halted || paused) && lastCompleteRevision !== null ? lastCompleteRevision : desiredRevision;
  const rollbackTo = halted && rollout.autoRollback && lastCompleteRevision !== null
    && lastCompleteRevision !== desiredRevision ? lastCompleteRevision : null;

  const queued = input.hosts
    .filter((h) => h.state === 'queued' && !pending.has(h.instanceId))
    .sort((a, b) => Number(b.launching) - Number(a.launching) || a.instanceId.localeCompare(b.instanceId));

  const grants: RolloutPlan['grants'] = [];
  let launchBudget = rollout.maxLaunching - launchingInFlight;
  let budget = halted || paused ? 0 : Math.min(maxUnavailable - unavailable, input.stepAllowance ?? Infinity);
  for (const host of queued) {
    if (host.launching) {
      if (launchBudget <= 0) continue;
      launchBudget -= 1;
      grants.push({ instanceId: host.instanceId, targetRevision: launchTarget });
    } else {
      if (budget <= 0) continue;
      budget -= 1;
      grants.push({ instanceId: host.instanceId, targetRevision: desiredRevision });
    }
  }
  return {
    grants, launchTarget, maxUnavailable, unavailable, launchingInFlight, failedAtDesired, halted, paused, rollbackTo,
  };
}
