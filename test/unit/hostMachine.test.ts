/**
 * The per-host machine, driven with xstate's pure `transition`: each step returns the next snapshot and the
 * effects the machine asks the controller for (requestSync, cancelCommand, completeLifecycle...).
 */
import { describe, expect, it } from 'vitest';
import { initialTransition } from 'xstate';
import {
  fromRecord, hostMachine, toRecord, transition, type HostEvent, type HostPolicy, type HostSnapshot,
} from '../../state/hostMachine.ts';
import type { HostRecord } from '../../state/host.ts';

const ID = 'i-0123456789abcdef0';
const POLICY: HostPolicy = {
  maxAttempts: 3, syncTimeoutMs: 60_000, backoffBaseMs: 10_000, backoffCapMs: 300_000, agentWaitMs: 120_000, drain: false,
};

type Observe = Extract<HostEvent, { type: 'OBSERVE' }>;

/** One host's machine with the effects it asked for, written as `type` or `type:RESULT` for completeLifecycle. */
class Host {
  /** effects of the last event */
  effects: string[] = [];
  /** every effect since the start */
  readonly history: string[] = [];

  constructor(public snapshot: HostSnapshot, public policy: HostPolicy = POLICY) {}

  static start(policy: HostPolicy = POLICY, nowMs = 0): Host {
    const [snapshot, actions] = initialTransition(hostMachine, { instanceId: ID, nowMs });
    expect(actions).toEqual([]);
    return new Host(snapshot, policy);
  }

  get state(): string {
    return this.snapshot.value as string;
  }

  get ctx(): HostSnapshot['context'] {
    return this.snapshot.context;
  }

  send(event: HostEvent): string[] {
    const [next, actions] = transition(hostMachine, this.snapshot, event);
    this.snapshot = next;
    this.effects = actions.map((a) => {
      const params = a.params as { result?: string } | undefined;
      return params?.result ? `${a.type}:${params.result}` : a.type;
    });
    this.history.push(...this.effects);
    return this.effects;
  }

  observe(nowMs: number, over: Partial<Observe> = {}): string[] {
    return this.send({
      type: 'OBSERVE', nowMs, lifecycleState: 'InService', launching: false, agentOnline: true, desiredRevision: 'r2',
      policy: this.policy, retryRequestId: null, ...over,
    });
  }

  tick(nowMs: number, random = 0.5): string[] {
    return this.send({ type: 'TICK', nowMs, random });
  }

  grant(nowMs: number, targetRevision = 'r2'): string[] {
    return this.send({ type: 'GRANT', nowMs, targetRevision });
  }

  /** ATTEMPT_STARTED then SENT, as the send batcher does for a command that went out. */
  startAttempt(nowMs: number, n = 1): void {
    this.send({ type: 'ATTEMPT_STARTED', nowMs, attemptId: `a-${n}` });
    this.send({ type: 'SENT', nowMs, commandId: `cmd-${n}` });
  }

  result(nowMs: number, outcome: 'success' | 'failed' | 'busy', revision: string | null, random = 0.5): string[] {
    return this.send({
      type: 'RESULT', nowMs, outcome, revision, error: outcome === 'failed' ? 'sync failed: exit 3' : null, random,
    });
  }
}

/** An in-service host, probed at r1 while r2 is desired: queued for a sync. */
function queuedInService(policy: HostPolicy = POLICY): Host {
  const host = Host.start(policy);
  expect(host.observe(1_000)).toEqual(['requestProbe']);
  host.send({ type: 'PROBED', nowMs: 2_000, revision: 'r1' });
  expect(host.state).toBe('queued');
  return host;
}

/** A new instance held in Pending:Wait by the lifecycle hook, its agent online: queued at once. */
function queuedLaunching(policy: HostPolicy = POLICY, desiredRevision = 'r2'): Host {
  const host = Host.start(policy);
  expect(host.observe(1_000, { lifecycleState: 'Pending:Wait', launching: true, desiredRevision })).toEqual([]);
  expect(host.state).toBe('queued');
  return host;
}

/** Fails `attempts` attempts in a row, each one timing out of backoff and granted again. */
function failAttempts(host: Host, attempts: number, fromMs: number): number {
  let t = fromMs;
  for (let n = 1; n <= attempts; n += 1) {
    if (n > 1) {
      host.tick(host.ctx.deadlineMs!);
      t = host.ctx.sinceMs + 1;
      expect(host.state).toBe('queued');
      host.grant(t);
    }
    host.startAttempt(t, n);
    host.result(t + 30_000, 'failed', null);
    t += 30_000;
  }
  return t;
}

function roundTrip(snapshot: HostSnapshot, policy: HostPolicy = POLICY): { record: HostRecord; restored: Host } {
  const record = JSON.parse(JSON.stringify(toRecord(snapshot))) as HostRecord;
  return { record, restored: new Host(fromRecord(hostMachine, record, policy), policy) };
}

describe('discovery', () => {
  it('waits for an offline agent until it comes online, then probes an in-service host', () => {
    const host = Host.start();
    expect(host.state).toBe('discovered');
    expect(host.observe(1_000, { agentOnline: false })).toEqual([]);
    expect(host.state).toBe('waitingForAgent');
    expect(host.ctx.deadlineMs).toBe(1_000 + POLICY.agentWaitMs);

    expect(host.tick(60_000)).toEqual([]);
    expect(host.state).toBe('waitingForAgent');

    expect(host.observe(61_000)).toEqual(['requestProbe']);
    expect(host.state).toBe('probing');
    expect(host.ctx.deadlineMs).toBeNull();
  });

  it('queues a launching host as soon as its agent is online, without a probe', () => {
    const host = Host.start();
    host.observe(1_000, { lifecycleState: 'Pending:Wait', launching: true, agentOnline: false });
    expect(host.state).toBe('waitingForAgent');
    expect(host.observe(5_000, { lifecycleState: 'Pending:Wait', launching: true })).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.history).not.toContain('requestProbe');
  });

  it('fails an in-service host whose agent never comes online and quarantines it', () => {
    const host = Host.start();
    host.observe(1_000, { agentOnline: false });
    const deadline = host.ctx.deadlineMs!;
    expect(host.tick(deadline - 1)).toEqual([]);
    expect(host.state).toBe('waitingForAgent');

    expect(host.tick(deadline)).toEqual(['hostFailed', 'quarantine']);
    expect(host.state).toBe('failed');
    expect(host.ctx.lastError).toBe('the command agent did not come online within 120s');
    expect(host.ctx.failedRevision).toBe('r2');
  });

  it('abandons a launching host whose agent never comes online', () => {
    const host = Host.start();
    host.observe(1_000, { lifecycleState: 'Pending:Wait', launching: true, agentOnline: false });
    expect(host.tick(1_000 + POLICY.agentWaitMs)).toEqual(['hostFailed', 'completeLifecycle:ABANDON']);
    expect(host.state).toBe('failed');
  });
});

describe('probing', () => {
  it('marks a host already at the desired revision in sync, with nothing to do', () => {
    const host = Host.start();
    host.observe(1_000);
    expect(host.send({ type: 'PROBED', nowMs: 2_000, revision: 'r2' })).toEqual([]);
    expect(host.state).toBe('inSync');
    expect(host.ctx.reportedRevision).toBe('r2');
    expect(host.ctx.attempt).toBe(0);
  });

  it.each([['r1'], [null]])('queues a host that reports %s while r2 is desired', (revision) => {
    const host = Host.start();
    host.observe(1_000);
    expect(host.send({ type: 'PROBED', nowMs: 2_000, revision })).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.ctx.reportedRevision).toBe(revision);
  });

  it('queues a host whose probe failed, keeping the reason', () => {
    const host = Host.start();
    host.observe(1_000);
    host.send({ type: 'PROBE_FAILED', nowMs: 2_000, error: 'probe timed out' });
    expect(host.state).toBe('queued');
    expect(host.ctx.lastError).toBe('probe timed out');
  });

  it('asks for the probe again when resumed in probing (the first one was lost with the old leader)', () => {
    const host = Host.start();
    host.observe(1_000);
    expect(host.send({ type: 'RESUME', nowMs: 2_000 })).toEqual(['requestProbe']);
    expect(host.state).toBe('probing');
  });

  it('sends an in-sync host back to the queue when a new revision is desired', () => {
    const host = Host.start();
    host.observe(1_000);
    host.send({ type: 'PROBED', nowMs: 2_000, revision: 'r2' });
    expect(host.observe(3_000, { desiredRevision: 'r3' })).toEqual([]);
    expect(host.state).toBe('queued');
  });
});

describe('a sync attempt', () => {
  it('starts a sync when granted a slot, at the granted revision', () => {
    const host = queuedInService();
    expect(host.grant(3_000)).toEqual(['requestSync']);
    expect(host.state).toBe('syncing');
    expect(host.ctx.targetRevision).toBe('r2');
    expect(host.ctx.attempt).toBe(1);
  });

  it('records the attempt with its deadline, then the command id', () => {
    const host = queuedInService();
    host.grant(3_000);
    expect(host.send({ type: 'ATTEMPT_STARTED', nowMs: 4_000, attemptId: 'a-1' })).toEqual([]);
    expect(host.ctx.attemptId).toBe('a-1');
    expect(host.ctx.deadlineMs).toBe(4_000 + POLICY.syncTimeoutMs);
    expect(host.send({ type: 'SENT', nowMs: 4_100, commandId: 'cmd-1' })).toEqual([]);
    expect(host.ctx.commandId).toBe('cmd-1');
    expect(host.state).toBe('syncing');
  });

  it('is in sync after a successful result at the target revision', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    expect(host.result(30_000, 'success', 'r2')).toEqual([]);
    expect(host.state).toBe('inSync');
    expect(host.ctx.reportedRevision).toBe('r2');
    expect(host.ctx.deadlineMs).toBeNull();
    expect(host.ctx.lastError).toBeNull();
    expect(host.history.filter((e) => e === 'requestSync')).toHaveLength(1);
  });

  it('drains an in-service host first when the policy says so, and registers it again after', () => {
    const host = queuedInService({ ...POLICY, drain: true });
    expect(host.grant(3_000)).toEqual(['deregister']);
    expect(host.state).toBe('draining');
    expect(host.send({ type: 'DRAINED', nowMs: 5_000 })).toEqual(['requestSync']);
    expect(host.state).toBe('syncing');
    expect(host.ctx.deregistered).toBe(true);
    host.startAttempt(5_000);
    expect(host.result(30_000, 'success', 'r2')).toEqual(['register']);
    expect(host.state).toBe('restoring');
    expect(host.send({ type: 'RESTORED', nowMs: 31_000 })).toEqual([]);
    expect(host.state).toBe('inSync');
    expect(host.ctx.deregistered).toBe(false);
  });

  it('does not drain a launching host (it serves no traffic)', () => {
    const host = queuedLaunching({ ...POLICY, drain: true });
    expect(host.grant(3_000)).toEqual(['requestSync']);
    expect(host.state).toBe('syncing');
  });

  it('registers a drained host again when its attempt fails', () => {
    const host = queuedInService({ ...POLICY, drain: true });
    host.grant(3_000);
    host.send({ type: 'DRAINED', nowMs: 5_000 });
    host.startAttempt(5_000);
    expect(host.result(30_000, 'failed', null)).toEqual(['register']);
    expect(host.state).toBe('backoff');
    // still out until the registration is confirmed: the planner counts it unavailable meanwhile
    expect(host.ctx.deregistered).toBe(true);
    expect(host.send({ type: 'RESTORED', nowMs: 31_000 })).toEqual([]);
    expect(host.ctx.deregistered).toBe(false);
  });

  it('registers a drained host again when its sync cannot be sent or the host is busy, and again after a restart', () => {
    for (const end of ['sendFailed', 'busy'] as const) {
      const host = queuedInService({ ...POLICY, drain: true });
      host.grant(3_000);
      host.send({ type: 'DRAINED', nowMs: 5_000 });
      host.startAttempt(5_000);
      const effects = end === 'busy'
        ? host.result(30_000, 'busy', null)
        : host.send({ type: 'SEND_FAILED', nowMs: 30_000, error: 'throttled', random: 0.5 });
      expect(effects).toEqual(end === 'busy' ? ['cancelOrphans', 'register'] : ['register']);
      expect(host.state).toBe('backoff');
      expect(host.ctx.deregistered).toBe(true);
      expect(host.send({ type: 'RESUME', nowMs: 31_000 })).toEqual(['register']);
    }
  });

  it('counts a success that reports another revision as a failed attempt', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    expect(host.result(30_000, 'success', 'r1')).toEqual([]);
    expect(host.state).toBe('backoff');
    expect(host.ctx.lastError).toBe('host reports r1 after syncing to r2');
    expect(host.ctx.attempt).toBe(1);
  });

  it('ignores a second grant while syncing: no second command', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    expect(host.grant(5_000)).toEqual([]);
    expect(host.grant(6_000, 'r3')).toEqual([]);
    expect(host.state).toBe('syncing');
    expect(host.ctx.attempt).toBe(1);
    expect(host.ctx.targetRevision).toBe('r2');
  });
});

describe('backoff and retries', () => {
  it.each([0, 0.25, 0.5, 0.999, 1])('backs off a failed attempt for d/2..d (random %s)', (random) => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    expect(host.result(30_000, 'failed', null, random)).toEqual([]);
    expect(host.state).toBe('backoff');
    expect(host.ctx.lastError).toBe('sync failed: exit 3');
    expect(host.ctx.commandId).toBeNull();
    const delay = host.ctx.deadlineMs! - 30_000;
    expect(delay).toBeGreaterThanOrEqual(POLICY.backoffBaseMs / 2);
    expect(delay).toBeLessThanOrEqual(POLICY.backoffBaseMs);
    if (random === 0) expect(delay).toBe(POLICY.backoffBaseMs / 2);
    if (random === 1) expect(delay).toBe(POLICY.backoffBaseMs);
  });

  it('queues the host again once the backoff deadline passes, and doubles the next backoff', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    host.result(30_000, 'failed', null, 1);
    const deadline = host.ctx.deadlineMs!;
    expect(host.tick(deadline - 1)).toEqual([]);
    expect(host.state).toBe('backoff');
    expect(host.tick(deadline)).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.ctx.deadlineMs).toBeNull();

    expect(host.grant(deadline + 1)).toEqual(['requestSync']);
    expect(host.ctx.attempt).toBe(2);
    host.startAttempt(deadline + 1, 2);
    host.result(deadline + 2, 'failed', null, 1);
    expect(host.ctx.deadlineMs! - (deadline + 2)).toBe(2 * POLICY.backoffBaseMs);
  });

  it('caps the backoff', () => {
    const policy = { ...POLICY, maxAttempts: 10, backoffBaseMs: 10_000, backoffCapMs: 25_000 };
    const host = queuedInService(policy);
    host.grant(3_000);
    let t = 3_000;
    const delays: number[] = [];
    for (let n = 1; n <= 5; n += 1) {
      host.startAttempt(t, n);
      host.result(t + 1, 'failed', null, 1);
      delays.push(host.ctx.deadlineMs! - (t + 1));
      t = host.ctx.deadlineMs!;
      host.tick(t);
      host.grant(t);
    }
    expect(delays).toEqual([10_000, 20_000, 25_000, 25_000, 25_000]);
  });

  it('does not spend an attempt when the host is busy (exit 75)', () => {
    const host = queuedInService({ ...POLICY, maxAttempts: 1 });
    let t = 3_000;
    for (let n = 1; n <= 5; n += 1) {
      expect(host.grant(t)).toEqual(['requestSync']);
      expect(host.ctx.attempt).toBe(1);
      host.startAttempt(t, n);
      expect(host.result(t + 1_000, 'busy', null)).toEqual(['cancelOrphans']);
      expect(host.state).toBe('backoff');
      expect(host.ctx.attempt).toBe(0);
      expect(host.ctx.deadlineMs).toBeGreaterThan(t + 1_000);
      t = host.ctx.deadlineMs!;
      host.tick(t);
      expect(host.state).toBe('queued');
    }
    host.grant(t);
    host.startAttempt(t, 6);
    host.result(t + 1_000, 'success', 'r2');
    expect(host.state).toBe('inSync');
    expect(host.history).not.toContain('hostFailed');
  });

  it('spends the attempt once the host has answered busy MAX_BUSY_REFUNDS times in a row', () => {
    const host = queuedInService({ ...POLICY, maxAttempts: 1 });
    let t = 3_000;
    for (let n = 1; n <= 6; n += 1) {
      host.grant(t);
      host.startAttempt(t, n);
      host.result(t + 1_000, 'busy', null);
      if (n === 6) break;
      t = host.ctx.deadlineMs!;
      host.tick(t);
    }
    expect(host.state).toBe('failed');
    expect(host.ctx.lastError).toMatch(/lock|busy/);
    expect(host.history).toContain('hostFailed');
  });

  it('backs off further after each send failure in a row (a given-back attempt still counts for the delay)', () => {
    const host = queuedInService();
    let t = 3_000;
    const delays: number[] = [];
    for (let n = 1; n <= 4; n += 1) {
      host.grant(t);
      host.send({ type: 'ATTEMPT_STARTED', nowMs: t, attemptId: `a-${n}` });
      host.send({ type: 'SEND_FAILED', nowMs: t, error: 'ThrottlingException', random: 1 });
      delays.push(host.ctx.deadlineMs! - t);
      t = host.ctx.deadlineMs!;
      host.tick(t);
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000]);
  });

  it('refunds the attempt when the command could not be sent', () => {
    const host = queuedInService({ ...POLICY, maxAttempts: 1 });
    host.grant(3_000);
    host.send({ type: 'ATTEMPT_STARTED', nowMs: 3_000, attemptId: 'a-1' });
    expect(host.send({ type: 'SEND_FAILED', nowMs: 3_500, error: 'ThrottlingException', random: 0.5 })).toEqual([]);
    expect(host.state).toBe('backoff');
    expect(host.ctx.attempt).toBe(0);
    expect(host.ctx.lastError).toBe('ThrottlingException');
    expect(host.ctx.attemptId).toBeNull();
    host.tick(host.ctx.deadlineMs!);
    expect(host.state).toBe('queued');
    expect(host.grant(host.ctx.sinceMs)).toEqual(['requestSync']);
    expect(host.ctx.attempt).toBe(1);
  });

  it('cancels the command of an attempt that outlives its deadline, then backs off', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    const deadline = 4_000 + POLICY.syncTimeoutMs;
    expect(host.tick(deadline - 1)).toEqual([]);
    expect(host.state).toBe('syncing');
    expect(host.tick(deadline)).toEqual(['cancelCommand']);
    // still holding its slot, with the command id the cancel needs, until the cancel is done
    expect(host.state).toBe('cancelling');
    expect(host.ctx.commandId).toBe('cmd-1');
    expect(host.send({ type: 'RESUME', nowMs: deadline + 1 })).toEqual(['cancelCommand']);
    expect(host.send({ type: 'CANCELLED', nowMs: deadline + 2 })).toEqual([]);
    expect(host.state).toBe('backoff');
    expect(host.ctx.lastError).toBe('attempt timed out after 60s');
    expect(host.ctx.commandId).toBeNull();
    expect(host.ctx.deadlineMs).toBeGreaterThan(deadline);
  });

  it('cancels a timed-out command and fails the host when it was the last attempt', () => {
    const host = queuedInService({ ...POLICY, maxAttempts: 1 });
    host.grant(3_000);
    host.startAttempt(4_000);
    expect(host.tick(4_000 + POLICY.syncTimeoutMs + 5)).toEqual(['cancelCommand']);
    expect(host.send({ type: 'CANCELLED', nowMs: 4_000 + POLICY.syncTimeoutMs + 6 })).toEqual(['hostFailed', 'quarantine']);
    expect(host.state).toBe('failed');
    expect(host.ctx.lastError).toBe('attempt timed out after 60s');
  });

  it('fails and quarantines an in-service host whose attempts are exhausted', () => {
    const host = queuedInService();
    host.grant(3_000);
    failAttempts(host, POLICY.maxAttempts, 3_000);
    expect(host.state).toBe('failed');
    expect(host.effects).toEqual(['hostFailed', 'quarantine']);
    expect(host.ctx.attempt).toBe(3);
    expect(host.ctx.failedRevision).toBe('r2');
    expect(host.ctx.lastError).toBe('sync failed: exit 3');
    expect(host.history).not.toContain('completeLifecycle:ABANDON');
    expect(host.history.filter((e) => e === 'requestSync')).toHaveLength(3);
  });

  it('abandons a launching host whose attempts are exhausted, and never continues it', () => {
    const host = queuedLaunching();
    host.grant(3_000);
    failAttempts(host, POLICY.maxAttempts, 3_000);
    expect(host.state).toBe('failed');
    expect(host.effects).toEqual(['hostFailed', 'completeLifecycle:ABANDON']);
    expect(host.history).not.toContain('quarantine');
    expect(host.history).not.toContain('completeLifecycle:CONTINUE');
  });
});

describe('a failed host', () => {
  function failedInService(retryRequestId: string | null = null): Host {
    const host = queuedInService();
    if (retryRequestId) host.observe(2_500, { retryRequestId });
    host.grant(3_000);
    failAttempts(host, POLICY.maxAttempts, 3_000);
    expect(host.state).toBe('failed');
    return host;
  }

  it('after a restart records nothing twice: an in-service host owes nothing, a launching one its ABANDON again', () => {
    const { restored } = roundTrip(failedInService().snapshot);
    expect(restored.send({ type: 'RESUME', nowMs: 700_000 })).toEqual([]);
    expect(restored.state).toBe('failed');

    const launching = queuedLaunching();
    launching.grant(3_000);
    failAttempts(launching, POLICY.maxAttempts, 3_000);
    expect(launching.history).toContain('completeLifecycle:ABANDON');
    const again = roundTrip(launching.snapshot).restored;
    expect(again.send({ type: 'RESUME', nowMs: 700_000 })).toEqual(['completeLifecycle:ABANDON']);
    expect(again.state).toBe('failed');
  });

  it('stays failed while nothing changes', () => {
    const host = failedInService();
    expect(host.observe(500_000)).toEqual([]);
    expect(host.tick(600_000)).toEqual([]);
    expect(host.state).toBe('failed');
  });

  it('is queued again with a fresh attempt count on a new retry request', () => {
    const host = failedInService();
    expect(host.observe(500_000, { retryRequestId: 'retry-1' })).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.ctx.attempt).toBe(0);
    expect(host.ctx.failedRevision).toBeNull();
    expect(host.ctx.lastError).toBeNull();
    expect(host.grant(500_001)).toEqual(['requestSync']);
    expect(host.ctx.attempt).toBe(1);

    // The same request seen again after another failure is not a new request.
    failAttempts(host, POLICY.maxAttempts, 500_001);
    expect(host.state).toBe('failed');
    host.observe(900_000, { retryRequestId: 'retry-1' });
    expect(host.state).toBe('failed');
    host.observe(900_001, { retryRequestId: 'retry-2' });
    expect(host.state).toBe('queued');
  });

  it('is not retried by a request it had already seen before it failed', () => {
    const host = failedInService('retry-1');
    host.observe(500_000, { retryRequestId: 'retry-1' });
    expect(host.state).toBe('failed');
  });

  it('is queued again (in service) when a new revision is desired', () => {
    const host = failedInService();
    expect(host.observe(500_000, { desiredRevision: 'r3' })).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.ctx.attempt).toBe(0);
    expect(host.grant(500_001, 'r3')).toEqual(['requestSync']);
    expect(host.ctx.attempt).toBe(1);
  });

  it('stays failed (launching: abandoned) when a new revision is desired', () => {
    const host = queuedLaunching();
    host.grant(3_000);
    failAttempts(host, POLICY.maxAttempts, 3_000);
    host.observe(500_000, { lifecycleState: 'Pending:Wait', launching: true, desiredRevision: 'r3' });
    expect(host.state).toBe('failed');
    expect(host.history.filter((e) => e === 'completeLifecycle:ABANDON')).toHaveLength(1);
  });
});

describe('an instance that goes away', () => {
  const reach: Record<string, (h: Host) => void> = {
    discovered: () => {},
    waitingForAgent: (h) => h.observe(1_000, { agentOnline: false }),
    probing: (h) => h.observe(1_000),
    queued: (h) => {
      h.observe(1_000);
      h.send({ type: 'PROBED', nowMs: 2_000, revision: 'r1' });
    },
    draining: (h) => {
      h.policy = { ...POLICY, drain: true };
      reach.queued!(h);
      h.grant(3_000);
    },
    syncing: (h) => {
      reach.queued!(h);
      h.grant(3_000);
      h.startAttempt(3_000);
    },
    restoring: (h) => {
      reach.draining!(h);
      h.send({ type: 'DRAINED', nowMs: 4_000 });
      h.startAttempt(4_000);
      h.result(5_000, 'success', 'r2');
    },
    backoff: (h) => {
      reach.syncing!(h);
      h.result(5_000, 'failed', null);
    },
    inSync: (h) => {
      h.observe(1_000);
      h.send({ type: 'PROBED', nowMs: 2_000, revision: 'r2' });
    },
    completing: (h) => {
      h.observe(1_000, { lifecycleState: 'Pending:Wait', launching: true });
      h.grant(2_000);
      h.startAttempt(2_000);
      h.result(3_000, 'success', 'r2');
    },
    failed: (h) => {
      h.observe(1_000, { agentOnline: false });
      h.tick(1_000 + POLICY.agentWaitMs);
    },
  };

  it.each(Object.keys(reach))('is gone from %s', (state) => {
    const host = Host.start();
    reach[state]!(host);
    expect(host.state).toBe(state);
    const effects = host.send({ type: 'GONE', nowMs: 900_000 });
    expect(host.state).toBe('gone');
    expect(host.snapshot.status).toBe('done');
    expect(effects).toEqual(state === 'syncing' ? ['cancelCommand'] : []);
  });
});

describe('a launching (Pending:Wait) host', () => {
  const launching = { lifecycleState: 'Pending:Wait', launching: true } as const;

  it('gets CONTINUE once it reports the desired revision, and only once', () => {
    const host = queuedLaunching();
    host.grant(2_000);
    host.startAttempt(2_000);
    expect(host.history).not.toContain('completeLifecycle:CONTINUE');
    expect(host.result(30_000, 'success', 'r2')).toEqual(['completeLifecycle:CONTINUE']);
    expect(host.state).toBe('completing');

    // Later passes see the same Pending:Wait host: nothing is asked again.
    expect(host.observe(31_000, launching)).toEqual([]);
    expect(host.tick(32_000)).toEqual([]);
    expect(host.send({ type: 'LIFECYCLE_DONE', nowMs: 33_000 })).toEqual([]);
    expect(host.state).toBe('inSync');
    expect(host.ctx.lifecycleCompleted).toBe(true);
    expect(host.ctx.launching).toBe(false);

    // The group may still list it as Pending:Wait for a while, then InService.
    expect(host.observe(34_000, launching)).toEqual([]);
    expect(host.observe(35_000)).toEqual([]);
    expect(host.state).toBe('inSync');
    expect(host.history.filter((e) => e.startsWith('completeLifecycle'))).toEqual(['completeLifecycle:CONTINUE']);
  });

  it('is not continued at a revision that is no longer desired', () => {
    // Synced to the last complete revision r1 (rollout paused), then r2 became its target mid-sync.
    const host = queuedLaunching(POLICY, 'r1');
    host.grant(2_000, 'r1');
    host.startAttempt(2_000);
    host.observe(10_000, { ...launching, desiredRevision: 'r2' });
    expect(host.result(30_000, 'success', 'r1')).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.history).not.toContain('completeLifecycle:CONTINUE');

    expect(host.grant(31_000, 'r2')).toEqual(['requestSync']);
    host.startAttempt(31_000, 2);
    expect(host.result(60_000, 'success', 'r2')).toEqual(['completeLifecycle:CONTINUE']);
  });

  it('asks for CONTINUE again when resumed in completing (the first call may have failed)', () => {
    const host = queuedLaunching();
    host.grant(2_000);
    host.startAttempt(2_000);
    host.result(30_000, 'success', 'r2');
    const { restored } = roundTrip(host.snapshot);
    expect(restored.send({ type: 'RESUME', nowMs: 40_000 })).toEqual(['completeLifecycle:CONTINUE']);
    restored.send({ type: 'LIFECYCLE_DONE', nowMs: 41_000 });
    expect(restored.state).toBe('inSync');
  });
});

describe('the desired revision changing during a sync', () => {
  it('never starts a second command on the host; the host is re-queued for the new revision after', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(3_000);

    for (let t = 5_000; t < 30_000; t += 5_000) {
      expect(host.observe(t, { desiredRevision: 'r3' })).toEqual([]);
      expect(host.tick(t + 1)).toEqual([]);
      expect(host.state).toBe('syncing');
    }
    expect(host.ctx.targetRevision).toBe('r2');
    expect(host.ctx.commandId).toBe('cmd-1');
    expect(host.history.filter((e) => e === 'requestSync')).toHaveLength(1);

    expect(host.result(40_000, 'success', 'r2')).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.ctx.reportedRevision).toBe('r2');

    expect(host.grant(41_000, 'r3')).toEqual(['requestSync']);
    expect(host.ctx.targetRevision).toBe('r3');
    expect(host.ctx.attempt).toBe(1);
    host.startAttempt(41_000, 2);
    host.result(70_000, 'success', 'r3');
    expect(host.state).toBe('inSync');
    expect(host.history.filter((e) => e === 'requestSync')).toHaveLength(2);
    expect(host.history).not.toContain('cancelCommand');
  });

  it('re-queues for the new revision with a fresh attempt count after a failed attempt', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(3_000);
    host.observe(5_000, { desiredRevision: 'r3' });
    host.result(10_000, 'failed', null);
    host.tick(host.ctx.deadlineMs!);
    expect(host.state).toBe('queued');
    host.grant(host.ctx.sinceMs, 'r3');
    expect(host.ctx.attempt).toBe(1);
  });
});

describe('a restored snapshot', () => {
  function syncingHost(): Host {
    const host = queuedInService();
    host.grant(3_000);
    host.startAttempt(4_000);
    return host;
  }

  it('persists the state and the attempt, and resumes a running attempt without sending again', () => {
    const { record, restored } = roundTrip(syncingHost().snapshot);
    expect(record.state).toBe('syncing');
    expect(record.context).toMatchObject({ attemptId: 'a-1', commandId: 'cmd-1', targetRevision: 'r2', attempt: 1 });
    expect(restored.state).toBe('syncing');

    expect(restored.send({ type: 'RESUME', nowMs: 10_000 })).toEqual(['resumeAttempt']);
    expect(restored.observe(11_000)).toEqual([]);
    expect(restored.tick(12_000)).toEqual([]);
    expect(restored.state).toBe('syncing');
    expect(restored.history).toEqual(['resumeAttempt']);

    expect(restored.result(30_000, 'success', 'r2')).toEqual([]);
    expect(restored.state).toBe('inSync');
  });

  it('resumes an attempt recorded before its command id (crash between the two) without sending again', () => {
    const host = queuedInService();
    host.grant(3_000);
    host.send({ type: 'ATTEMPT_STARTED', nowMs: 4_000, attemptId: 'a-1' });
    const { restored } = roundTrip(host.snapshot);
    expect(restored.send({ type: 'RESUME', nowMs: 10_000 })).toEqual(['resumeAttempt']);
    expect(restored.ctx.attemptId).toBe('a-1');
    expect(restored.history).not.toContain('requestSync');
  });

  it('keeps its deadline: a tick past it times the attempt out', () => {
    const { record, restored } = roundTrip(syncingHost().snapshot);
    expect(record.context.deadlineMs).toBe(4_000 + POLICY.syncTimeoutMs);
    restored.send({ type: 'RESUME', nowMs: 10_000 });
    expect(restored.tick(4_000 + POLICY.syncTimeoutMs - 1)).toEqual([]);
    expect(restored.tick(4_000 + POLICY.syncTimeoutMs)).toEqual(['cancelCommand']);
    expect(restored.state).toBe('cancelling');
  });

  it('keeps a backoff deadline', () => {
    const host = syncingHost();
    host.result(20_000, 'failed', null);
    const deadline = host.ctx.deadlineMs!;
    const { restored } = roundTrip(host.snapshot);
    expect(restored.state).toBe('backoff');
    restored.tick(deadline - 1);
    expect(restored.state).toBe('backoff');
    restored.tick(deadline);
    expect(restored.state).toBe('queued');
  });

  it('takes its policy from the restoring controller, not the record', () => {
    const { record, restored } = roundTrip(syncingHost().snapshot, { ...POLICY, maxAttempts: 1 });
    expect(record.context).not.toHaveProperty('policy');
    expect(restored.result(20_000, 'failed', null)).toEqual(['hostFailed', 'quarantine']);
  });
});

describe('grants', () => {
  it('ignores a grant for another revision than the one an in-service host is meant to run (a plan older than the spec)', () => {
    const host = queuedInService();
    expect(host.grant(3_000, 'r1')).toEqual([]);
    expect(host.state).toBe('queued');
    expect(host.grant(4_000, 'r2')).toEqual(['requestSync']);
    expect(host.ctx.targetRevision).toBe('r2');
  });
});
