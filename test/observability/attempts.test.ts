/**
 * How a finished attempt is classified (the bounded `outcome` label of the metrics) and what its log line says,
 * driven through the real host machine: the same transitions the reconciler applies.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition } from 'xstate';
import { hostMachine, transition, type HostEvent, type HostPolicy, type HostSnapshot } from '../../state/hostMachine.ts';
import { endedAttempt, logAttempt, type SeenInvocation } from '../../controller/reconciler/attempts.ts';
import { FLEET, logCapture } from './simController.ts';

const ID = 'i-0123456789abcdef0';
const policy: HostPolicy = {
  maxAttempts: 3, syncTimeoutMs: 60_000, backoffBaseMs: 1_000, backoffCapMs: 10_000, agentWaitMs: 60_000, drain: false,
};

const step = (snapshot: HostSnapshot, event: HostEvent): HostSnapshot => transition(hostMachine, snapshot, event)[0];

/** A host running attempt a-7-1 (command cmd-1) to rev-1, recorded at t=1000. */
function syncing(): HostSnapshot {
  let s = initialTransition(hostMachine, { instanceId: ID, nowMs: 0 })[0];
  s = step(s, {
    type: 'OBSERVE', nowMs: 0, lifecycleState: 'InService', launching: false, agentOnline: true, desiredRevision: 'rev-1',
    policy, retryRequestId: null,
  });
  s = step(s, { type: 'PROBED', nowMs: 10, revision: 'rev-0' });
  s = step(s, { type: 'GRANT', nowMs: 20, targetRevision: 'rev-1' });
  expect(s.value).toBe('syncing');
  s = step(s, { type: 'ATTEMPT_STARTED', nowMs: 1_000, attemptId: 'a-7-1' });
  return step(s, { type: 'SENT', nowMs: 1_100, commandId: 'cmd-1' });
}

function end(event: HostEvent, invocation: SeenInvocation | null = null) {
  const before = syncing();
  return endedAttempt({ before, after: step(before, event), event, invocation });
}

const failed = (error: string): HostEvent => ({ type: 'RESULT', nowMs: 30_000, outcome: 'failed', revision: null, error, random: 0.5 });

describe('endedAttempt', () => {
  it('sees no end while the attempt is being set up or runs', () => {
    let before = initialTransition(hostMachine, { instanceId: ID, nowMs: 0 })[0];
    for (const event of [
      { type: 'OBSERVE', nowMs: 0, lifecycleState: 'InService', launching: false, agentOnline: true, desiredRevision: 'rev-1', policy, retryRequestId: null },
      { type: 'PROBED', nowMs: 10, revision: 'rev-0' },
      { type: 'GRANT', nowMs: 20, targetRevision: 'rev-1' },
      { type: 'ATTEMPT_STARTED', nowMs: 1_000, attemptId: 'a-7-1' },
      { type: 'SENT', nowMs: 1_100, commandId: 'cmd-1' },
      { type: 'TICK', nowMs: 60_999, random: 0.5 },
    ] satisfies HostEvent[]) {
      const after = step(before, event);
      expect(endedAttempt({ before, after, event, invocation: null }), event.type).toBeNull();
      before = after;
    }
  });

  it('a success at the target revision', () => {
    expect(end({ type: 'RESULT', nowMs: 30_000, outcome: 'success', revision: 'rev-1', error: null, random: 0.5 },
      { commandId: 'cmd-1', result: { instanceId: ID, status: 'success', exitCode: 0 } })).toEqual({
      instanceId: ID, attemptId: 'a-7-1', commandId: 'cmd-1', targetRevision: 'rev-1', attempt: 1, outcome: 'success',
      reason: null, exitCode: 0, startedAtMs: 1_000,
    });
  });

  it('a success that reports another revision is verifyFailed', () => {
    expect(end({ type: 'RESULT', nowMs: 30_000, outcome: 'success', revision: 'rev-0', error: null, random: 0.5 })).toMatchObject({
      outcome: 'verifyFailed', reason: 'host reports rev-0 after syncing to rev-1',
    });
  });

  it('exit 4 is checkFailed, exit 3 syncFailed, with the host script\'s reason', () => {
    const check = 'check /usr/local/bin/app-healthcheck failed (exit 1): link rolled back to rev-0';
    expect(end(failed(check), { commandId: 'cmd-1', result: { instanceId: ID, status: 'failed', exitCode: 4, error: check } }))
      .toMatchObject({ outcome: 'checkFailed', exitCode: 4, reason: check });
    expect(end(failed('aws s3 sync failed: AccessDenied'), { commandId: 'cmd-1', result: { instanceId: ID, status: 'failed', exitCode: 3 } }))
      .toMatchObject({ outcome: 'syncFailed', exitCode: 3, reason: 'aws s3 sync failed: AccessDenied' });
    // a result of another command says nothing about this one
    expect(end(failed('boom'), { commandId: 'cmd-0', result: { instanceId: ID, status: 'failed', exitCode: 4 } }))
      .toMatchObject({ outcome: 'syncFailed', exitCode: null, reason: 'boom' });
  });

  it('SSM timing the command out is timedOut; a cancelled command is cancelled', () => {
    expect(end(failed('SSM reports TimedOut'), { commandId: 'cmd-1', result: { instanceId: ID, status: 'timedOut' } }))
      .toMatchObject({ outcome: 'timedOut', reason: 'SSM reports TimedOut' });
    expect(end(failed('the command was cancelled'), { commandId: 'cmd-1', result: { instanceId: ID, status: 'cancelled' } }))
      .toMatchObject({ outcome: 'cancelled' });
  });

  it('busy, sendFailed, the deadline passing, and the instance leaving', () => {
    expect(end({ type: 'RESULT', nowMs: 2_000, outcome: 'busy', revision: null, error: 'another sync holds the host lock', random: 0.5 }))
      .toMatchObject({ outcome: 'busy', reason: 'another sync holds the host lock' });
    expect(end({ type: 'SEND_FAILED', nowMs: 1_200, error: 'could not send the sync command: throttled', random: 0.5 }))
      .toMatchObject({ outcome: 'sendFailed', reason: 'could not send the sync command: throttled' });
    expect(end({ type: 'TICK', nowMs: 61_000, random: 0.5 }))
      .toMatchObject({ outcome: 'timedOut', reason: 'attempt timed out after 60s', startedAtMs: 1_000 });
    expect(end({ type: 'GONE', nowMs: 5_000 })).toMatchObject({ outcome: 'cancelled', reason: 'the instance left the group during the attempt' });
  });
});

describe('logAttempt', () => {
  it('warns with the reason on a failure, informs on a success', () => {
    const { log, lines } = logCapture('info');
    const base = {
      fleet: FLEET, instanceId: ID, attemptId: 'a-7-1', commandId: 'cmd-1', targetRevision: 'rev-1', attempt: 2, durationMs: 61_500,
    };
    logAttempt(log.child({ fleet: FLEET }), { ...base, outcome: 'checkFailed', reason: 'check failed: HTTP 500', exitCode: 4 }, 3);
    logAttempt(log.child({ fleet: FLEET }), { ...base, outcome: 'success', reason: null, exitCode: 0 }, 3);
    expect(lines[0]).toMatchObject({
      level: 40, fleet: FLEET, instanceId: ID, attemptId: 'a-7-1', commandId: 'cmd-1', exitCode: 4, reason: 'check failed: HTTP 500',
      msg: 'sync attempt 2/3 at rev-1 failed (checkFailed): check failed: HTTP 500',
    });
    expect(lines[1]).toMatchObject({ level: 30, msg: 'synced to rev-1 in 61.5s', durationMs: 61_500 });
  });
});
