/** The rollout policy: which queued hosts may start an attempt now, and at which revision. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { planRollout, type RolloutHost, type RolloutInput } from '../../state/rollout.ts';
import { DEFAULT_ROLLOUT, type RolloutSpec } from '../../state/spec.ts';
import type { HostState } from '../../state/host.ts';

let seq = 0;
function host(state: HostState, over: Partial<RolloutHost> = {}): RolloutHost {
  seq += 1;
  return {
    instanceId: `i-${seq.toString(16).padStart(8, '0')}`, state, launching: false, reportedRevision: 'r1',
    failedRevision: null, ...over,
  };
}
const many = (n: number, state: HostState, over: Partial<RolloutHost> = {}): RolloutHost[] =>
  Array.from({ length: n }, () => host(state, over));

function plan(hosts: RolloutHost[], rollout: Partial<RolloutSpec> = {}, extra: Partial<RolloutInput> = {}) {
  return planRollout({
    desiredRevision: 'r2', lastCompleteRevision: 'r1', rollout: { ...DEFAULT_ROLLOUT, ...rollout },
    inServiceAtStart: hosts.filter((h) => !h.launching).length, hosts, ...extra,
  });
}

const grantedIds = (p: ReturnType<typeof plan>): string[] => p.grants.map((g) => g.instanceId);

describe('maxUnavailable', () => {
  it.each([[3], ['3']])('as a count (%j) grants that many in-service hosts at once', (maxUnavailable) => {
    const hosts = many(10, 'queued');
    const p = plan(hosts, { maxUnavailable });
    expect(p.maxUnavailable).toBe(3);
    expect(p.grants).toHaveLength(3);
    expect(p.grants.every((g) => g.targetRevision === 'r2')).toBe(true);
  });

  it.each([
    ['25%', 3, 1], ['25%', 400, 100], ['10%', 5, 1], ['20%', 400, 80], ['33%', 10, 3], ['100%', 4, 4], ['1%', 1, 1],
  ])('as a percent: %s of %i in-service hosts is %i (rounded down, at least 1)', (maxUnavailable, inService, expected) => {
    const hosts = many(inService, 'queued');
    const p = plan(hosts, { maxUnavailable });
    expect(p.maxUnavailable).toBe(expected);
    expect(p.grants).toHaveLength(expected);
  });

  it('takes the percent of the in-service hosts at the start of the rollout, not of the hosts now', () => {
    const hosts = many(4, 'queued');
    expect(plan(hosts, { maxUnavailable: '25%' }, { inServiceAtStart: 40 }).maxUnavailable).toBe(10);
  });

  it('counts hosts draining, syncing, verifying, restoring or deciding on a failure as unavailable', () => {
    for (const state of ['draining', 'syncing', 'verifying', 'restoring', 'attemptFailed', 'cancelling'] as const) {
      const hosts = [...many(2, state), ...many(10, 'queued')];
      const p = plan(hosts, { maxUnavailable: 3 });
      expect(p.unavailable, state).toBe(2);
      expect(p.grants, state).toHaveLength(1);
    }
  });

  it('counts a granted host as unavailable whatever its state until it takes the grant (F9: its save failed)', () => {
    const granted = host('inSync');
    const hosts = [granted, ...many(2, 'syncing'), ...many(10, 'queued')];
    const p = plan(hosts, { maxUnavailable: 3 }, { pendingGrants: new Set([granted.instanceId]) });
    expect(p.unavailable).toBe(3);
    expect(p.grants).toHaveLength(0);
  });

  it('counts a host still out of its target groups as unavailable, whatever its state', () => {
    for (const state of ['backoff', 'queued', 'failed', 'idle'] as const) {
      const hosts = [...many(2, state, { deregistered: true }), ...many(10, 'queued')];
      const p = plan(hosts, { maxUnavailable: 3 });
      expect(p.unavailable, state).toBe(2);
      expect(p.grants, state).toHaveLength(1);
    }
  });

  it('grants nothing while the budget is used up, and does not count hosts that are not being synced', () => {
    const busy = [...many(3, 'syncing'), ...many(5, 'queued')];
    expect(plan(busy, { maxUnavailable: 3 }).grants).toEqual([]);
    const resting = [...many(3, 'backoff'), ...many(3, 'inSync'), ...many(2, 'failed', { failedRevision: 'r0' }), ...many(5, 'queued')];
    expect(plan(resting, { maxUnavailable: 3 }).grants).toHaveLength(3);
  });

  it('counts granted hosts whose machines are still queued as in flight, and never grants them twice', () => {
    const hosts = many(10, 'queued');
    const pending = new Set(hosts.slice(0, 2).map((h) => h.instanceId));
    const p = plan(hosts, { maxUnavailable: 3 }, { pendingGrants: pending });
    expect(p.unavailable).toBe(2);
    expect(p.grants).toHaveLength(1);
    expect(grantedIds(p).some((id) => pending.has(id))).toBe(false);
  });

  it('never grants a host that is not queued', () => {
    const states: HostState[] = ['discovered', 'waitingForAgent', 'probing', 'idle', 'inSync', 'backoff', 'completing', 'failed'];
    const hosts = states.map((s) => host(s));
    expect(plan(hosts, { maxUnavailable: 100 }).grants).toEqual([]);
  });
});

describe('launching hosts', () => {
  it('are synced outside the maxUnavailable budget, up to maxLaunching at once, before in-service hosts', () => {
    const hosts = [...many(1, 'syncing'), ...many(4, 'queued'), ...many(5, 'queued', { launching: true })];
    const p = plan(hosts, { maxUnavailable: 1, maxLaunching: 3 });
    expect(p.grants).toHaveLength(3);
    const launchingIds = new Set(hosts.filter((h) => h.launching).map((h) => h.instanceId));
    expect(grantedIds(p).every((id) => launchingIds.has(id))).toBe(true);
  });

  it('in flight count against maxLaunching, not against maxUnavailable', () => {
    const hosts = [...many(2, 'syncing', { launching: true }), ...many(5, 'queued', { launching: true }), ...many(5, 'queued')];
    const p = plan(hosts, { maxUnavailable: 2, maxLaunching: 3 });
    expect(p.launchingInFlight).toBe(2);
    expect(p.unavailable).toBe(0);
    const launching = p.grants.filter((g) => hosts.find((h) => h.instanceId === g.instanceId)!.launching);
    expect(launching).toHaveLength(1);
    expect(p.grants).toHaveLength(3);
  });
});

describe('maxFailures, pause and autoRollback', () => {
  const failedAt = (revision: string, n = 1): RolloutHost[] => many(n, 'failed', { failedRevision: revision });

  it('halts the rollout when maxFailures hosts failed at the desired revision: launching hosts still synced, to the last complete revision', () => {
    const hosts = [...failedAt('r2'), ...many(5, 'queued'), ...many(2, 'queued', { launching: true })];
    const p = plan(hosts, { maxUnavailable: 3, maxFailures: 1 });
    expect(p.halted).toBe(true);
    expect(p.failedAtDesired).toBe(1);
    expect(p.launchTarget).toBe('r1');
    expect(p.grants).toHaveLength(2);
    expect(p.grants.every((g) => g.targetRevision === 'r1')).toBe(true);
    expect(p.grants.every((g) => hosts.find((h) => h.instanceId === g.instanceId)!.launching)).toBe(true);
  });

  it('does not halt below maxFailures, nor for hosts that failed at another revision', () => {
    const below = plan([...failedAt('r2', 1), ...many(5, 'queued')], { maxUnavailable: 3, maxFailures: 2 });
    expect(below.halted).toBe(false);
    expect(below.grants).toHaveLength(3);
    const older = plan([...failedAt('r1', 3), ...many(5, 'queued')], { maxUnavailable: 3, maxFailures: 1 });
    expect(older.halted).toBe(false);
    expect(older.failedAtDesired).toBe(0);
    expect(older.launchTarget).toBe('r2');
  });

  it('syncs launching hosts to the desired revision when halted before any revision completed', () => {
    const hosts = [...failedAt('r2'), ...many(1, 'queued', { launching: true })];
    const p = plan(hosts, {}, { lastCompleteRevision: null });
    expect(p.halted).toBe(true);
    expect(p.grants).toEqual([{ instanceId: hosts[1]!.instanceId, targetRevision: 'r2' }]);
  });

  it('starts no in-service attempt while paused, but syncs launching hosts to the last complete revision', () => {
    const hosts = [...many(5, 'queued'), ...many(2, 'queued', { launching: true })];
    const p = plan(hosts, { paused: true, maxUnavailable: 3 });
    expect(p.paused).toBe(true);
    expect(p.halted).toBe(false);
    expect(p.launchTarget).toBe('r1');
    expect(p.grants).toHaveLength(2);
    expect(p.grants.every((g) => g.targetRevision === 'r1')).toBe(true);
  });

  it('gives rollbackTo only when halted with autoRollback and a different last complete revision', () => {
    const halting = [...failedAt('r2'), ...many(3, 'queued')];
    expect(plan(halting, { autoRollback: true }).rollbackTo).toBe('r1');
    expect(plan(halting, { autoRollback: false }).rollbackTo).toBeNull();
    expect(plan(halting, { autoRollback: true }, { lastCompleteRevision: null }).rollbackTo).toBeNull();
    expect(plan(halting, { autoRollback: true }, { lastCompleteRevision: 'r2' }).rollbackTo).toBeNull();
    expect(plan(many(3, 'queued'), { autoRollback: true }).rollbackTo).toBeNull();
    expect(plan(many(3, 'queued'), { autoRollback: true, paused: true }).rollbackTo).toBeNull();
  });
});

describe('a property over random fleets', () => {
  const STATES: HostState[] = [
    'discovered', 'waitingForAgent', 'probing', 'idle', 'inSync', 'queued', 'draining', 'syncing', 'verifying',
    'restoring', 'attemptFailed', 'cancelling', 'backoff', 'completing', 'failed',
  ];
  const IN_FLIGHT = new Set<HostState>(['draining', 'syncing', 'verifying', 'restoring', 'attemptFailed', 'cancelling']);

  const hostArb = fc.record({
    state: fc.oneof(fc.constantFrom(...STATES), fc.constant<HostState>('queued')),
    launching: fc.boolean(),
    failedRevision: fc.constantFrom(null, 'r1', 'r2'),
    pending: fc.boolean(),
  });
  const inputArb = fc.record({
    hosts: fc.array(hostArb, { maxLength: 60 }),
    maxUnavailable: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`)),
    maxLaunching: fc.integer({ min: 1, max: 10 }),
    maxFailures: fc.integer({ min: 1, max: 4 }),
    paused: fc.boolean(),
    lastCompleteRevision: fc.constantFrom(null, 'r1', 'r2'),
    inServiceAtStart: fc.integer({ min: 0, max: 80 }),
  });

  it('never exceeds maxUnavailable or maxLaunching, never grants a host that is not queued, and fills the budget', () => {
    fc.assert(fc.property(inputArb, (input) => {
      const hosts: RolloutHost[] = input.hosts.map((h, i) => ({
        instanceId: `i-${i.toString(16).padStart(8, '0')}`, state: h.state, launching: h.launching,
        reportedRevision: 'r1', failedRevision: h.state === 'failed' ? h.failedRevision : null,
      }));
      const pending = new Set(hosts.filter((_, i) => input.hosts[i]!.pending && hosts[i]!.state === 'queued').map((h) => h.instanceId));
      const p = planRollout({
        desiredRevision: 'r2', lastCompleteRevision: input.lastCompleteRevision, inServiceAtStart: input.inServiceAtStart,
        rollout: { ...DEFAULT_ROLLOUT, maxUnavailable: input.maxUnavailable, maxLaunching: input.maxLaunching,
          maxFailures: input.maxFailures, paused: input.paused },
        hosts, pendingGrants: pending,
      });

      const byId = new Map(hosts.map((h) => [h.instanceId, h]));
      const inFlight = (launching: boolean): number => hosts.filter((h) => h.launching === launching
        && (IN_FLIGHT.has(h.state) || pending.has(h.instanceId))).length;
      const max = typeof input.maxUnavailable === 'number' ? input.maxUnavailable
        : Math.max(1, Math.floor((Number.parseInt(input.maxUnavailable, 10) * input.inServiceAtStart) / 100));
      const halted = hosts.filter((h) => h.state === 'failed' && h.failedRevision === 'r2').length >= input.maxFailures;
      const launchTarget = (halted || input.paused) && input.lastCompleteRevision !== null ? input.lastCompleteRevision : 'r2';

      const ids = p.grants.map((g) => g.instanceId);
      expect(new Set(ids).size).toBe(ids.length);
      for (const g of p.grants) {
        const h = byId.get(g.instanceId)!;
        expect(h.state).toBe('queued');
        expect(pending.has(h.instanceId)).toBe(false);
        expect(g.targetRevision).toBe(h.launching ? launchTarget : 'r2');
      }
      const inServiceGrants = p.grants.filter((g) => !byId.get(g.instanceId)!.launching).length;
      const launchingGrants = p.grants.length - inServiceGrants;
      const inServiceBudget = halted || input.paused ? 0 : Math.max(0, max - inFlight(false));
      const launchingBudget = Math.max(0, input.maxLaunching - inFlight(true));
      const eligible = (launching: boolean): number => hosts.filter((h) => h.launching === launching
        && h.state === 'queued' && !pending.has(h.instanceId)).length;

      expect(inServiceGrants).toBeLessThanOrEqual(inServiceBudget);
      expect(launchingGrants).toBeLessThanOrEqual(launchingBudget);
      // and it is not lazy: every free slot with a queued host behind it is used
      expect(inServiceGrants).toBe(Math.min(inServiceBudget, eligible(false)));
      expect(launchingGrants).toBe(Math.min(launchingBudget, eligible(true)));
      expect(p.halted).toBe(halted);
      expect(p.maxUnavailable).toBe(max);
    }), { numRuns: 500 });
  });
});
