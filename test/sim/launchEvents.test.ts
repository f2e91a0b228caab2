/**
 * Launch events in the simulator: the group's lifecycle event makes the fleet's leader observe at once, so a
 * launching instance is synced in seconds rather than at the next resync; the resync still catches launches
 * whose event was lost, and an event that comes twice changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { simulate, type SimulateOptions, type SimulateResult } from '../../controller/sim/simulate.ts';
import { FOLLOW_UP_MAX_MS } from '../../controller/reconciler/launchListener.ts';
import { run } from '../cli/cliHarness.ts';

// A long resync, so any launch served quickly was served by its event. Launches come 40 s into the rollout.
const LAUNCHES: Partial<SimulateOptions> = { hosts: 20, syncSeconds: 20, resyncSeconds: 600, scaleOut: 5, scaleOutAt: 40, scaleOutOverSeconds: 50 };

describe('launch events', () => {
  it('start a launching instance\'s sync without waiting for the resync', async () => {
    const withEvents = await simulate(LAUNCHES);
    expect(withEvents.converged).toBe(true);
    expect(withEvents.launchEvents).toEqual({ published: 5, lost: 0, delivered: 5 });
    expect(withEvents.launchedInService.map((h) => h.revision)).toEqual(Array(5).fill('rev-1'));
    // event 1 s, the send batch window 1 s, a poll of the result within 5 s: far from the 600 s resync
    expect(withEvents.extraLaunchDelaySeconds.max!).toBeLessThanOrEqual(10);
    expect(withEvents.launchToServiceSeconds.max!).toBeLessThanOrEqual(LAUNCHES.syncSeconds! + 10);

    const withoutEvents = await simulate({ ...LAUNCHES, events: false });
    expect(withoutEvents.launchEvents).toBeNull();
    expect(withoutEvents.launchedInService).toHaveLength(5);
    // Without them, the launches wait for the resync (which comes at least 600 - 90 s after the last one).
    expect(withoutEvents.extraLaunchDelaySeconds.p50!).toBeGreaterThan(400);
  });

  it('leave a launch whose event was lost to the resync, which still syncs it before it serves', async () => {
    const resyncSeconds = 60;
    const lost = await simulate({ ...LAUNCHES, resyncSeconds, eventLossRate: 1 });
    expect(lost.launchEvents).toEqual({ published: 5, lost: 5, delivered: 0 });
    expect(lost.converged).toBe(true);
    expect(lost.staleInService).toBe(0);
    expect(lost.launchedInService.map((h) => h.revision)).toEqual(Array(5).fill('rev-1'));
    expect(lost.extraLaunchDelaySeconds.max!).toBeLessThanOrEqual(resyncSeconds + 10);
    // and it was the resync: the delivered case is faster
    const delivered = await simulate({ ...LAUNCHES, resyncSeconds });
    expect(lost.extraLaunchDelaySeconds.p50!).toBeGreaterThan(delivered.extraLaunchDelaySeconds.max!);
  });

  it('change nothing when delivered twice: one sync per launch, no duplicate send', async () => {
    const once = await simulate(LAUNCHES);
    const twice = await simulate({ ...LAUNCHES, eventDuplicateRate: 1 });
    expect(twice.launchEvents).toEqual({ published: 5, lost: 0, delivered: 10 });
    expect(twice.converged).toBe(true);
    expect(twice.duplicateSends).toBe(0);
    expect(twice.syncCommandsPerHost).toBe(once.syncCommandsPerHost);
    expect(twice.lifecycleCompleted).toBe(5);
    expect(twice.launchedInService).toEqual(once.launchedInService);
    expect(twice.extraLaunchDelaySeconds).toEqual(once.extraLaunchDelaySeconds);
  });

  it('keep observing a launched instance until its agent is online, so the agent is not waited for until the resync', async () => {
    const agentDelaySeconds = 45;
    const r = await simulate({ ...LAUNCHES, agentDelaySeconds });
    expect(r.converged).toBe(true);
    expect(r.launchedInService).toHaveLength(5);
    // the agent's own delay, then a follow-up observation every poll (5 s), then the sync path as above
    expect(r.extraLaunchDelaySeconds.max!).toBeLessThanOrEqual(agentDelaySeconds + 5 + 10);
    const noEvents = await simulate({ ...LAUNCHES, agentDelaySeconds, events: false });
    expect(noEvents.extraLaunchDelaySeconds.p50!).toBeGreaterThan(400);
  });

  it('stop following up a launch whose agent takes longer than FOLLOW_UP_MAX_MS: the resync takes over', async () => {
    const agentDelaySeconds = 400;
    const options = { hosts: 4, syncSeconds: 10, scaleOut: 1, scaleOutAt: 0, agentDelaySeconds };
    const [withEvents, withoutEvents] = [await simulate(options), await simulate({ ...options, events: false })];
    expect(withEvents.converged && withoutEvents.converged).toBe(true);
    const followUps = withEvents.apiCalls.byOperation.DescribeAutoScalingGroups! - withoutEvents.apiCalls.byOperation.DescribeAutoScalingGroups!;
    // one pass for the event, then one per 5 s poll for 3 minutes, not for the agent's whole 400 s
    expect(followUps).toBeGreaterThanOrEqual(FOLLOW_UP_MAX_MS / 5_000 - 2);
    expect(followUps).toBeLessThanOrEqual(FOLLOW_UP_MAX_MS / 5_000 + 2);
    expect(withEvents.launchedInService.map((h) => h.revision)).toEqual(['rev-1']);
  });

  it('replay the same run for the same seed', async () => {
    const options = { ...LAUNCHES, seed: 7, eventLossRate: 0.4, resyncSeconds: 30, scaleOut: 12 };
    const [a, b] = [await simulate(options), await simulate(options)];
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.launchEvents!.lost).toBeGreaterThan(0);
    expect(a.launchEvents!.lost).toBeLessThan(12);
  });
});

describe('fleetsync simulate and launch events', () => {
  it('reports the launch delays as p50/p99/max, and --no-events turns the events off', async () => {
    const args = ['simulate', '--hosts', '20', '--sync-seconds', '20', '--scale-out', '3', '--scale-out-over', '30'];
    const on = await run(args);
    expect(on.code).toBe(0);
    const withEvents = JSON.parse(on.stdout) as SimulateResult;
    expect(withEvents.settings).toMatchObject({ events: true, scaleOutOverSeconds: 30 });
    expect(withEvents.launchEvents).toEqual({ published: 3, lost: 0, delivered: 3 });
    expect(Object.keys(withEvents.extraLaunchDelaySeconds)).toEqual(['p50', 'p99', 'max']);
    expect(withEvents.launchToServiceSeconds.max! - withEvents.extraLaunchDelaySeconds.max!).toBe(20);

    const off = JSON.parse((await run([...args, '--no-events'])).stdout) as SimulateResult;
    expect(off.settings.events).toBe(false);
    expect(off.launchEvents).toBeNull();
    expect(off.extraLaunchDelaySeconds.p99!).toBeGreaterThan(withEvents.extraLaunchDelaySeconds.p99!);

    const bad = await run([...args, '--scale-out-over', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--scale-out-over');
  });
});
