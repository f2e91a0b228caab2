/**
 * Telling when a host's event ended its sync attempt, and how: the reconciler applies events one at a time and
 * asks here after each, so every RESULT, SEND_FAILED, timeout and departure is reported once, with the host
 * script's reason, to the log and the observer (metrics).
 */
import type { HostEvent, HostSnapshot } from '../../state/hostMachine.ts';
import type { InvocationResult } from '../ports/commands.ts';
import { EXIT } from '../hostProtocol.ts';
import type { Logger } from '../log.ts';
import type { AttemptOutcome, AttemptResult } from './observer.ts';

/** The last per-host result the poller read, kept so a failure can be told apart by exit code. */
export interface SeenInvocation {
  commandId: string;
  result: InvocationResult;
}

export type EndedAttempt = Omit<AttemptOutcome, 'fleet' | 'durationMs'> & {
  /**
   * When the attempt was recorded, as its deadline tells (the deadline is set then, syncTimeout ahead): what a
   * leader that did not see the attempt start (it took over mid-attempt) goes by.
   */
  startedAtMs: number | null;
};

function failureOf(invocation: InvocationResult | null): AttemptResult {
  if (invocation?.status === 'timedOut') return 'timedOut';
  if (invocation?.status === 'cancelled') return 'cancelled';
  if (invocation?.exitCode === EXIT.checkFailed) return 'checkFailed';
  return 'syncFailed';
}

/** The attempt that `event` ended (taking the host from `before` to `after`), or null when it ended none. */
export function endedAttempt(args: {
  before: HostSnapshot; after: HostSnapshot; event: HostEvent; invocation: SeenInvocation | null;
}): EndedAttempt | null {
  const { before, after, event } = args;
  const ctx = before.context;
  if (before.value !== 'syncing' || ctx.attemptId === null) return null;
  if (after.value === 'syncing' && after.context.attemptId === ctx.attemptId) return null;
  const invocation = args.invocation && args.invocation.commandId === ctx.commandId ? args.invocation.result : null;
  let outcome: AttemptResult;
  let reason: string | null = after.context.lastError;
  switch (event.type) {
    case 'RESULT':
      if (event.outcome === 'success') {
        outcome = event.revision === ctx.targetRevision ? 'success' : 'verifyFailed';
        if (outcome === 'success') reason = null;
      } else if (event.outcome === 'busy') {
        outcome = 'busy';
        reason = event.error;
      } else {
        outcome = failureOf(invocation);
        reason ??= event.error;
      }
      break;
    case 'SEND_FAILED':
      outcome = 'sendFailed';
      reason = event.error;
      break;
    case 'GONE':
      outcome = 'cancelled';
      reason = 'the instance left the group during the attempt';
      break;
    default:
      // Nothing else ends an attempt but its deadline passing (checked on every event).
      outcome = 'timedOut';
  }
  return {
    instanceId: ctx.instanceId, attemptId: ctx.attemptId, commandId: ctx.commandId, targetRevision: ctx.targetRevision,
    attempt: ctx.attempt, outcome, reason, exitCode: invocation?.exitCode ?? null,
    startedAtMs: ctx.deadlineMs === null ? null : ctx.deadlineMs - ctx.policy.syncTimeoutMs,
  };
}

/** One log line per finished attempt; a failure carries the host script's reason, not only its exit code. */
export function logAttempt(log: Logger, o: AttemptOutcome, maxAttempts: number): void {
  const fields = {
    instanceId: o.instanceId, attemptId: o.attemptId, commandId: o.commandId, revision: o.targetRevision,
    attempt: o.attempt, outcome: o.outcome, exitCode: o.exitCode, reason: o.reason, durationMs: o.durationMs,
  };
  const seconds = o.durationMs === null ? '' : ` in ${Math.round(o.durationMs / 100) / 10}s`;
  switch (o.outcome) {
    case 'success':
      log.info(fields, `synced to ${o.targetRevision}${seconds}`);
      return;
    case 'busy':
      log.info(fields, `host busy (${o.reason}): trying again later without spending an attempt`);
      return;
    case 'cancelled':
      log.info(fields, `sync attempt cancelled: ${o.reason}`);
      return;
    default:
      log.warn(fields, `sync attempt ${o.attempt}/${maxAttempts} at ${o.targetRevision} failed (${o.outcome}): ${o.reason}`);
  }
}
