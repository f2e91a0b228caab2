/**
 * Whole rollouts against the simulated Auto Scaling group (issue 2): the real manager, leader election,
 * reconciler and host machines in virtual time.
 */
import { describe, expect, it } from 'vitest';
import { simulate, type SimulateResult } from '../../controller/sim/simulate.ts';

function expectSafe(r: SimulateResult): void {
  expect(r.maxInFlightPerHost).toBe(1);
  expect(r.duplicateSends).toBe(0);
  expect(r.maxUnavailableObserved).toBeLessThanOrEqual(Math.max(...r.rollouts.map((ro) => ro.maxUnavailableAllowed)));
  for (const ro of r.rollouts) expect(ro.maxUnavailableObserved, ro.revision).toBeLessThanOrEqual(ro.maxUnavailableAllowed);
  expect(r.staleInService).toBe(0);
  // The invariant checker watched every step (issue 13).
  expect(r.invariantChecks).toBeGreaterThan(0);
  expect(r.violations).toEqual([]);
}

describe('simulate', () => {
  it('400 hosts at 25% converge within 15% of the lower bound, one command per host at a time', async () => {
    const r = await simulate({ hosts: 400, maxUnavailable: '25%', syncSeconds: 60 });
    expect(r.converged).toBe(true);
    expect(r.finalRevision).toBe('rev-1');
    expect(r.finalStatus).toEqual({
      revision: 'rev-1', hostCounts: { total: 400, inSync: 400, syncing: 0, queued: 0, failed: 0, launching: 0 },
    });
    expectSafe(r);
    expect(r.maxUnavailableAllowed).toBe(100);
    expect(r.maxUnavailableObserved).toBe(100);
    expect(r.lowerBoundSeconds).toBe(240);
    expect(r.sequentialSeconds).toBe(24_000);
    expect(r.convergedSeconds!).toBeGreaterThanOrEqual(r.lowerBoundSeconds);
    expect(r.convergedSeconds!).toBeLessThanOrEqual(1.15 * r.lowerBoundSeconds);
    expect(r.apiCalls.total / r.hosts).toBeLessThanOrEqual(3);
    // 400 hosts in batches of at most 50: no fewer than 8 SendCommand calls, and never one per host.
    expect(r.apiCalls.byOperation.SendCommand).toBeGreaterThanOrEqual(8);
    expect(r.apiCalls.byOperation.SendCommand).toBeLessThan(20);
  });

  it('gives byte-identical JSON for the same flags and seed', async () => {
    const options = { hosts: 120, failRate: 0.05, throttleRate: 0.1, scaleOut: 10, scaleOutAt: 30, crashAt: 50, seed: 9 };
    const a = JSON.stringify(await simulate(options));
    const b = JSON.stringify(await simulate(options));
    expect(a).toBe(b);
    const other = JSON.stringify(await simulate({ ...options, seed: 10 }));
    expect(other).not.toBe(a);
  });

  it('50 instances launched mid-rollout come up at the desired revision before they serve', async () => {
    const r = await simulate({ hosts: 400, syncSeconds: 60, scaleOut: 50, scaleOutAt: 100 });
    expect(r.converged).toBe(true);
    expect(r.hosts).toBe(450);
    expect(r.finalStatus.hostCounts).toMatchObject({ total: 450, inSync: 450 });
    expect(r.lifecycleCompleted).toBe(50);
    expect(r.launchedInService).toHaveLength(50);
    expect(r.launchedInService.every((h) => h.revision === 'rev-1')).toBe(true);
    expectSafe(r);
  });

  it('a revision bump mid-rollout ends with every host on the final revision', async () => {
    const r = await simulate({ hosts: 400, syncSeconds: 60, bumpAt: 120 });
    expect(r.converged).toBe(true);
    expect(r.finalRevision).toBe('rev-2');
    expect(r.finalStatus).toMatchObject({ revision: 'rev-2', hostCounts: { total: 400, inSync: 400 } });
    expectSafe(r);
  });

  it('after --bump-at over a grown fleet, reports the budget each rollout computed from its own start', async () => {
    const r = await simulate({ hosts: 100, maxUnavailable: '10%', syncSeconds: 60, scaleOut: 100, scaleOutAt: 30, bumpAt: 900 });
    expect(r.converged).toBe(true);
    expect(r.rollouts.map((ro) => [ro.revision, ro.inServiceAtStart, ro.maxUnavailableAllowed])).toEqual([
      ['rev-1', 100, 10],
      ['rev-2', 200, 20],
    ]);
    expect(r.rollouts[1]!.startedAtSeconds).toBeGreaterThanOrEqual(900);
    // The second rollout used its larger budget: it was not held to the first one's.
    expect(r.rollouts[1]!.maxUnavailableObserved).toBe(20);
    expect(r.maxUnavailableAllowed).toBe(10);
    expectSafe(r);
  });

  it('converges with 5% of syncs failing, by retrying them', async () => {
    const r = await simulate({ hosts: 400, syncSeconds: 60, failRate: 0.05, seed: 3 });
    expect(r.converged).toBe(true);
    expect(r.failedHosts).toBe(0);
    // Some hosts needed more than one command: retries happened.
    expect(r.syncCommandsPerHost).toBeGreaterThan(1);
    expectSafe(r);
  });

  it('a controller crash mid-rollout resumes without sending a second command for any attempt', async () => {
    const r = await simulate({ hosts: 400, syncSeconds: 60, crashAt: 90 });
    expect(r.converged).toBe(true);
    expect(r.duplicateSends).toBe(0);
    expect(r.syncCommandsPerHost).toBe(1);
    expectSafe(r);
  });

  it('absorbs throttling: retries are counted, the rollout still converges', async () => {
    const r = await simulate({ hosts: 200, syncSeconds: 60, throttleRate: 0.2, seed: 5 });
    expect(r.converged).toBe(true);
    expect(r.apiCalls.throttled).toBeGreaterThan(0);
    expect(r.apiCalls.total / r.hosts).toBeLessThanOrEqual(3);
    expectSafe(r);
  });

  it('a paused rollout syncs no in-service host but still brings launching hosts up, at the last complete revision', async () => {
    const r = await simulate({ hosts: 40, paused: true, scaleOut: 5, scaleOutAt: 20, maxSeconds: 600 });
    expect(r.converged).toBe(false);
    expect(r.maxUnavailableObserved).toBe(0);
    expect(r.lifecycleCompleted).toBe(5);
    expect(r.lifecycleAbandoned).toBe(0);
    expect(r.launchedInService.map((h) => h.revision)).toEqual(['rev-0', 'rev-0', 'rev-0', 'rev-0', 'rev-0']);
    expect(r.staleInService).toBe(0);
  });

  it('marks hosts failed when every attempt fails, and halts the rollout', async () => {
    const r = await simulate({ hosts: 20, failRate: 1, maxAttempts: 2, maxFailures: 1, maxSeconds: 3_600 });
    expect(r.converged).toBe(false);
    expect(r.failedHosts).toBeGreaterThanOrEqual(1);
    // Halted at the first failures: the 25% budget (5 hosts) of the first wave, never more.
    expect(r.failedHosts).toBeLessThanOrEqual(r.maxUnavailableAllowed);
    expect(r.maxInFlightPerHost).toBe(1);
  });
});
