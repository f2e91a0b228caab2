/** Fleet status: host counts by bucket, and the Ready / Progressing / Degraded conditions. */
import { describe, expect, it } from 'vitest';
import { fleetConditions, type ConditionInput } from '../../state/conditions.ts';
import { BUCKET_OF, countHosts } from '../../state/buckets.ts';
import { hostMachine } from '../../state/hostMachine.ts';
import type { Condition, HostCounts } from '../../state/spec.ts';
import type { HostState } from '../../state/host.ts';

describe('hostCounts buckets', () => {
  const machineStates = Object.keys(hostMachine.config.states ?? {}) as HostState[];

  it('puts every state of the machine but gone in exactly one bucket', () => {
    expect(machineStates.length).toBeGreaterThan(10);
    expect(new Set(Object.keys(BUCKET_OF))).toEqual(new Set(machineStates.filter((s) => s !== 'gone')));
    for (const state of machineStates.filter((s) => s !== 'gone')) {
      const counts = countHosts([state]);
      const buckets = Object.entries(counts).filter(([k, v]) => k !== 'total' && v > 0).map(([k]) => k);
      expect(buckets, state).toHaveLength(1);
      // a host parked in the warm pool is counted beside the total (a rollout never waits on it)
      expect(counts.total, state).toBe(state === 'warm' ? 0 : 1);
    }
  });

  it('does not count gone hosts, and the buckets add up to the total', () => {
    const states: HostState[] = ['inSync', 'inSync', 'syncing', 'verifying', 'queued', 'backoff', 'failed', 'probing', 'gone'];
    const counts = countHosts(states);
    expect(counts).toEqual({ total: 8, inSync: 2, syncing: 2, queued: 2, failed: 1, launching: 1 });
    expect(counts.inSync + counts.syncing + counts.queued + counts.failed + counts.launching).toBe(counts.total);
  });
});

const T0 = '2024-05-01T10:00:00.000Z';
const T1 = '2024-05-01T10:05:00.000Z';

function counts(over: Partial<HostCounts>): HostCounts {
  const c = { inSync: 0, syncing: 0, queued: 0, failed: 0, launching: 0, ...over };
  return { total: c.inSync + c.syncing + c.queued + c.failed + c.launching, ...c };
}

function conditions(over: Partial<ConditionInput>): Record<string, Condition> {
  const list = fleetConditions({
    desiredRevision: 'r2', counts: counts({ inSync: 3 }), atDesired: 3, halted: false, paused: false,
    failedAtDesired: 0, previous: [], nowIso: T0, ...over,
  });
  expect(list.map((c) => c.type)).toEqual(['Ready', 'Progressing', 'Degraded']);
  return Object.fromEntries(list.map((c) => [c.type, c]));
}

describe('fleet conditions', () => {
  it('reports a complete rollout as Ready, not Progressing, not Degraded', () => {
    const c = conditions({});
    expect(c.Ready).toMatchObject({ status: 'True', reason: 'RolloutComplete', message: '3/3 hosts at r2' });
    expect(c.Progressing).toMatchObject({ status: 'False', reason: 'RolloutComplete' });
    expect(c.Degraded).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('reports a rollout under way as not Ready and Progressing, with how far it got', () => {
    const c = conditions({ counts: counts({ inSync: 9, syncing: 2, queued: 1 }), atDesired: 9 });
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'RolloutInProgress', message: '9/12 hosts at r2' });
    expect(c.Progressing).toMatchObject({ status: 'True', reason: 'RolloutInProgress' });
    expect(c.Degraded?.status).toBe('False');
  });

  it('is not Ready with no hosts', () => {
    const c = conditions({ counts: counts({}), atDesired: 0 });
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'NoHosts' });
  });

  it('is not Ready while a host in sync runs another revision', () => {
    const c = conditions({ counts: counts({ inSync: 3 }), atDesired: 2 });
    expect(c.Ready?.status).toBe('False');
  });

  it('reports a halted rollout as Degraded (MaxFailuresReached) and not Progressing, saying what to do', () => {
    const c = conditions({ counts: counts({ inSync: 2, failed: 1, queued: 3 }), atDesired: 2, halted: true, failedAtDesired: 1 });
    expect(c.Progressing).toMatchObject({ status: 'False', reason: 'RolloutHalted' });
    expect(c.Degraded).toMatchObject({ status: 'True', reason: 'MaxFailuresReached' });
    expect(c.Degraded?.message).toContain('1 host(s) failed at r2');
    expect(c.Degraded?.message).toMatch(/retry|deploy/);
  });

  it('reports a paused rollout as not Progressing (RolloutPaused); halted wins over paused', () => {
    const progress = { counts: counts({ inSync: 1, queued: 3 }), atDesired: 1 };
    expect(conditions({ ...progress, paused: true }).Progressing).toMatchObject({ status: 'False', reason: 'RolloutPaused' });
    expect(conditions({ ...progress, paused: true, halted: true, failedAtDesired: 1 }).Progressing?.reason).toBe('RolloutHalted');
  });

  it('reports failed hosts below maxFailures as Degraded (HostsFailed) while still Progressing', () => {
    const c = conditions({ counts: counts({ inSync: 2, failed: 1, queued: 3 }), atDesired: 2 });
    expect(c.Degraded).toMatchObject({ status: 'True', reason: 'HostsFailed', message: '1 host(s) failed' });
    expect(c.Progressing?.status).toBe('True');
  });

  it('keeps lastTransitionTime while a status is unchanged, and moves it when the status changes', () => {
    const before = fleetConditions({
      desiredRevision: 'r2', counts: counts({ inSync: 1, syncing: 2 }), atDesired: 1, halted: false, paused: false,
      failedAtDesired: 0, previous: [], nowIso: T0,
    });
    expect(before.every((c) => c.lastTransitionTime === T0)).toBe(true);

    // Same statuses, another reason for Progressing (paused): times kept.
    const paused = fleetConditions({
      desiredRevision: 'r2', counts: counts({ inSync: 2, syncing: 1 }), atDesired: 2, halted: false, paused: true,
      failedAtDesired: 0, previous: before, nowIso: T1,
    });
    const byType = (list: Condition[], type: string): Condition => list.find((c) => c.type === type)!;
    expect(byType(paused, 'Ready').lastTransitionTime).toBe(T0);
    expect(byType(paused, 'Degraded').lastTransitionTime).toBe(T0);
    expect(byType(paused, 'Progressing')).toMatchObject({ status: 'False', lastTransitionTime: T1 });

    const done = fleetConditions({
      desiredRevision: 'r2', counts: counts({ inSync: 3 }), atDesired: 3, halted: false, paused: false,
      failedAtDesired: 0, previous: before, nowIso: T1,
    });
    expect(byType(done, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: T1 });
    expect(byType(done, 'Degraded')).toMatchObject({ status: 'False', lastTransitionTime: T0 });
  });
});
