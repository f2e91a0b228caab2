/** The fleet status the leader writes: counts, the reached revision, and the one status that finishes a rollout. */
import { describe, expect, it } from 'vitest';
import { nextFleetStatus, type FleetStatusInput } from '../../state/fleetStatus.ts';
import type { FleetStatus } from '../../state/spec.ts';

const rolling: FleetStatus = {
  observedGeneration: 2, revision: 'v1', lastAttemptedRevision: 'v2',
  hostCounts: { total: 3, inSync: 1, syncing: 1, queued: 1, failed: 0, launching: 0 }, conditions: [],
  rollout: { revision: 'v2', generation: 2, startedAtMs: 1_000, inServiceAtStart: 3 }, updatedAtMs: 5_000,
};

function input(over: Partial<FleetStatusInput>): FleetStatusInput {
  return {
    generation: 2, desiredRevision: 'v2', paused: false, halted: false, failedAtDesired: 0, previous: rolling, errors: [],
    nowMs: 60_000, hosts: [], ...over,
  };
}

describe('nextFleetStatus', () => {
  it('keeps the last reached revision while hosts still sync', () => {
    const { status, finished } = nextFleetStatus(input({
      hosts: [{ state: 'inSync', reportedRevision: 'v2' }, { state: 'syncing', reportedRevision: 'v1' }, { state: 'gone', reportedRevision: 'v1' }],
    }));
    expect(finished).toBeNull();
    expect(status).toMatchObject({ revision: 'v1', lastAttemptedRevision: 'v2', observedGeneration: 2 });
    expect(status.hostCounts).toEqual({ total: 2, inSync: 1, syncing: 1, queued: 0, failed: 0, launching: 0 });
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', message: '1/2 hosts at v2' });
  });

  it('finishes the rollout once every live host is in sync at the desired revision, and only once', () => {
    const hosts = [{ state: 'inSync' as const, reportedRevision: 'v2' }, { state: 'inSync' as const, reportedRevision: 'v2' }];
    const first = nextFleetStatus(input({ hosts }));
    expect(first.status.revision).toBe('v2');
    expect(first.finished).toEqual({ ...rolling.rollout, finishedAtMs: 60_000 });
    expect(first.status.rollout?.finishedAtMs).toBe(60_000);
    const again = nextFleetStatus(input({ hosts, previous: first.status, nowMs: 90_000 }));
    expect(again.finished).toBeNull();
    expect(again.status.rollout?.finishedAtMs).toBe(60_000);
  });

  it('does not call a fleet of in-sync hosts at another revision done', () => {
    const { status, finished } = nextFleetStatus(input({ hosts: [{ state: 'inSync', reportedRevision: 'v1' }] }));
    expect(finished).toBeNull();
    expect(status.revision).toBe('v1');
  });

  it('reports unreadable items, and the halt in its conditions', () => {
    const { status } = nextFleetStatus(input({
      hosts: [{ state: 'failed', reportedRevision: 'v1' }], halted: true, failedAtDesired: 1, errors: ['host item i-1: bad'],
    }));
    expect(status.errors).toEqual(['host item i-1: bad']);
    expect(status.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'MaxFailuresReached' });
  });
});
