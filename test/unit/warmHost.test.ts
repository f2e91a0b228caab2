/**
 * Warm pools in the pure logic: the host machine syncs an instance held in Warmed:Pending:Wait, parks it while it
 * sleeps in the pool, and syncs it again when it leaves; the rollout and the status leave parked hosts out.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition } from 'xstate';
import { fromRecord, hostMachine, toRecord, transition, type HostEvent, type HostPolicy, type HostSnapshot } from '../../state/hostMachine.ts';
import { planRollout, type RolloutHost } from '../../state/rollout.ts';
import { countHosts } from '../../state/buckets.ts';
import { nextFleetStatus } from '../../state/fleetStatus.ts';
import { parseHostRecord } from '../../state/storedItems.ts';
import { isHookWaiting, isLaunching, isLeaving, isWarm, leftWarmPool } from '../../state/lifecycleStates.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { countsLine } from '../../controller/cli/textStatus.ts';

const ID = 'i-0123456789abcdef0';
const POLICY: HostPolicy = {
  maxAttempts: 3, syncTimeoutMs: 60_000, backoffBaseMs: 10_000, backoffCapMs: 300_000, agentWaitMs: 120_000, drain: false,
};

class Host {
  readonly history: string[] = [];
  effects: string[] = [];
  snapshot: HostSnapshot;
  private n = 0;

  constructor() {
    [this.snapshot] = initialTransition(hostMachine, { instanceId: ID, nowMs: 0 });
  }

  get state(): string {
    return this.snapshot.value as string;
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

  /** What the reconciler delivers: `launching` is read off the lifecycle state, as it does. */
  observe(nowMs: number, lifecycleState: string, desiredRevision: string, agentOnline = true): string[] {
    return this.send({
      type: 'OBSERVE', nowMs, lifecycleState, launching: isLaunching(lifecycleState), agentOnline, desiredRevision,
      policy: POLICY, retryRequestId: null,
    });
  }

  /** A granted sync that succeeds at `revision`, then the lifecycle action it asked for. */
  syncTo(nowMs: number, revision: string): void {
    this.n += 1;
    expect(this.send({ type: 'GRANT', nowMs, targetRevision: revision })).toEqual(['requestSync']);
    this.send({ type: 'ATTEMPT_STARTED', nowMs, attemptId: `a-${this.n}` });
    this.send({ type: 'SENT', nowMs, commandId: `cmd-${this.n}` });
    this.send({ type: 'RESULT', nowMs: nowMs + 1_000, outcome: 'success', revision, error: null, random: 0.5 });
  }
}

describe('lifecycle states', () => {
  it('reads warm-pool states for what they are', () => {
    expect(isLaunching('Warmed:Pending:Wait')).toBe(true);
    expect(isLaunching('Warmed:Pending')).toBe(true);
    expect(isLaunching('Warmed:Stopped')).toBe(false);
    expect(isHookWaiting('Warmed:Pending:Wait')).toBe(true);
    expect(isHookWaiting('Warmed:Pending')).toBe(false);
    expect(isLeaving('Warmed:Terminating:Wait')).toBe(true);
    expect(isLeaving('Warmed:Terminated')).toBe(true);
    expect(isLeaving('Warmed:Hibernated')).toBe(false);
    expect(isWarm('Warmed:Running')).toBe(true);
    expect(isWarm('InService')).toBe(false);
    expect(leftWarmPool('Warmed:Stopped', 'Pending:Wait')).toBe(true);
    expect(leftWarmPool('Warmed:Hibernated', 'Pending')).toBe(true);
    expect(leftWarmPool('InService', 'Warmed:Pending:Wait')).toBe(false);
  });
});

describe('a warm-pool host in the machine', () => {
  it('is synced in Warmed:Pending:Wait, parked while it sleeps, and synced again to the newer revision when it leaves', () => {
    const host = new Host();
    // launched into the pool, held by the launch hook
    host.observe(1_000, 'Warmed:Pending:Wait', 'r1');
    expect(host.state).toBe('queued');
    expect(host.snapshot.context.launching).toBe(true);
    host.syncTo(2_000, 'r1');
    expect(host.state).toBe('completing');
    expect(host.effects).toContain('completeLifecycle:CONTINUE');
    host.send({ type: 'LIFECYCLE_DONE', nowMs: 4_000 });
    // still listed in Warmed:Pending:Wait a moment after CONTINUE: already parked, no second action
    expect(host.state).toBe('warm');

    // stopped in the pool; the desired revision moves while it sleeps: nothing is sent to it
    const before = host.history.length;
    expect(host.observe(5_000, 'Warmed:Stopped', 'r1', false)).toEqual([]);
    expect(host.observe(6_000, 'Warmed:Stopped', 'r2', false)).toEqual([]);
    host.send({ type: 'TICK', nowMs: 7_000, random: 0.5 });
    host.send({ type: 'RESUME', nowMs: 7_000 });
    expect(host.history.slice(before)).toEqual([]);
    expect(host.state).toBe('warm');

    // out of the pool: a new hook holds it; its agent is still starting
    host.observe(8_000, 'Pending:Wait', 'r2', false);
    expect(host.state).toBe('waitingForAgent');
    expect(host.snapshot.context).toMatchObject({ launching: true, lifecycleCompleted: false, reportedRevision: null, attempt: 0 });
    host.observe(9_000, 'Pending:Wait', 'r2', true);
    expect(host.state).toBe('queued');
    host.syncTo(10_000, 'r2');
    expect(host.state).toBe('completing');
    expect(host.effects).toEqual(['completeLifecycle:CONTINUE']);
    host.send({ type: 'LIFECYCLE_DONE', nowMs: 12_000 });
    host.observe(13_000, 'InService', 'r2');
    expect(host.state).toBe('inSync');
    expect(host.snapshot.context).toMatchObject({ reportedRevision: 'r2', lifecycleCompleted: true, launching: false });
    expect(host.history.filter((e) => e === 'completeLifecycle:CONTINUE')).toHaveLength(2);
    expect(host.history.filter((e) => e === 'requestSync')).toHaveLength(2);
  });

  it('is synced again on leaving the pool even when the desired revision did not move (its old report is not trusted)', () => {
    const host = new Host();
    host.observe(1_000, 'Warmed:Pending:Wait', 'r1');
    host.syncTo(2_000, 'r1');
    host.send({ type: 'LIFECYCLE_DONE', nowMs: 4_000 });
    host.observe(5_000, 'Warmed:Hibernated', 'r1', false);
    expect(host.state).toBe('warm');
    // seen straight in Pending:Wait (the Warmed:* state it slept in was never listed after the first)
    host.observe(6_000, 'Pending:Wait', 'r1', true);
    expect(host.state).toBe('queued');
    expect(host.effects).not.toContain('completeLifecycle:CONTINUE');
  });

  it('first seen asleep in the pool (a new controller) is parked: no probe, no command', () => {
    const host = new Host();
    expect(host.observe(1_000, 'Warmed:Stopped', 'r1', false)).toEqual([]);
    expect(host.state).toBe('warm');
    const running = new Host();
    // a pool kept running: the agent answers, yet nothing is asked of it
    expect(running.observe(1_000, 'Warmed:Running', 'r1', true)).toEqual([]);
    expect(running.state).toBe('warm');
  });

  it('an in-service host returned to the pool on scale-in is parked, not launched again', () => {
    const host = new Host();
    host.observe(1_000, 'InService', 'r1');
    host.send({ type: 'PROBED', nowMs: 2_000, revision: 'r1' });
    expect(host.state).toBe('inSync');
    // the group holds it in Warmed:Pending:Wait for its terminating hook: nothing of ours to sync or complete
    expect(host.observe(3_000, 'Warmed:Pending:Wait', 'r2')).toEqual([]);
    expect(host.state).toBe('warm');
    expect(host.observe(4_000, 'Warmed:Stopped', 'r2', false)).toEqual([]);
    // drawn again for a scale-out: synced to what is desired now, then let in
    host.observe(5_000, 'Pending:Wait', 'r2');
    expect(host.state).toBe('queued');
    host.syncTo(6_000, 'r2');
    expect(host.effects).toEqual(['completeLifecycle:CONTINUE']);
  });

  it('keeps its parked state across a restart (the record names it)', () => {
    const host = new Host();
    host.observe(1_000, 'Warmed:Stopped', 'r1', false);
    const record = parseHostRecord(JSON.parse(JSON.stringify(toRecord(host.snapshot))));
    expect(record.state).toBe('warm');
    const restored = fromRecord(hostMachine, record, POLICY);
    const [next, actions] = transition(hostMachine, restored, { type: 'RESUME', nowMs: 2_000 });
    expect(next.value).toBe('warm');
    expect(actions).toEqual([]);
  });
});

describe('warm hosts in the rollout and the status', () => {
  const rollout = parseFleetSpec({
    autoScalingGroupName: 'web-asg', source: 's3://bucket/app', destination: '/var/www/app', revision: 'r2',
    rollout: { maxUnavailable: 1 },
  }).rollout;
  const host = (id: string, state: RolloutHost['state'], launching = false): RolloutHost => ({
    instanceId: id, state, launching, reportedRevision: 'r1', failedRevision: null,
  });

  it('parked hosts take no slot and get no grant; a warm launch uses the launch budget, not maxUnavailable', () => {
    const plan = planRollout({
      desiredRevision: 'r2', lastCompleteRevision: 'r1', rollout, inServiceAtStart: 2,
      hosts: [
        host('i-a', 'queued'), host('i-b', 'queued'),
        host('i-w1', 'warm'), host('i-w2', 'warm'),
        // launching into the pool, its sync running
        host('i-w3', 'syncing', true),
      ],
    });
    expect(plan.unavailable).toBe(0);
    expect(plan.launchingInFlight).toBe(1);
    expect(plan.grants).toEqual([{ instanceId: 'i-a', targetRevision: 'r2' }]);
  });

  it('counts parked hosts beside the total, and a rollout completes while they sleep at an older revision', () => {
    const hosts = [
      { state: 'inSync' as const, reportedRevision: 'r2' }, { state: 'inSync' as const, reportedRevision: 'r2' },
      { state: 'warm' as const, reportedRevision: 'r1' },
    ];
    expect(countHosts(hosts.map((h) => h.state))).toEqual({ total: 2, inSync: 2, syncing: 0, queued: 0, failed: 0, launching: 0, warm: 1 });
    expect(countHosts(['inSync'])).not.toHaveProperty('warm');
    const { status } = nextFleetStatus({
      generation: 2, desiredRevision: 'r2', paused: false, hosts, halted: false, failedAtDesired: 0, previous: null, errors: [], nowMs: 0,
    });
    expect(status.revision).toBe('r2');
    expect(status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(countsLine(status)).toBe('2 total: 2 in sync, 0 syncing, 0 queued, 0 failed, 0 launching; 1 asleep in the warm pool');
  });
});
