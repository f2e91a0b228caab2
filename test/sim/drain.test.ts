/** rollout.drain: an in-service host leaves its target groups before its sync and comes back after it. */
import { describe, expect, it } from 'vitest';
import { Manager } from '../../controller/manager.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { silentLogger } from '../../controller/log.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { parseFleetSpec } from '../../state/validate.ts';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef';

describe('drain', () => {
  it('deregisters at most maxUnavailable hosts at once, syncs them, and registers every one again', async () => {
    const clock = new VirtualClock(0);
    const world = new SimWorld({ clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'v1' });
    world.launch(9, { inService: true, revision: 'v1' });
    const store = new MemoryStore();
    const traffic = new SimTraffic(world);
    const abort = new AbortController();
    const manager = new Manager({
      store, fleetPort: new SimFleet(world), commands: new SimCommands(world, { syncMs: 20_000, probeMs: 1_000, failRate: 0 }),
      traffic, clock, random: seededRandom(2), holder: 'test', settings: DEFAULT_SETTINGS, leader: DEFAULT_LEADER_SETTINGS,
      fleetScanMs: 5_000, log: silentLogger,
    });
    const spec = (revision: string) => parseFleetSpec({
      autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision, targetGroupArns: [TG],
      rollout: { maxUnavailable: 3, drain: true },
    });
    const first = await store.putFleetSpec({ name: 'web', spec: spec('v1'), expectedGeneration: 0, nowMs: 0 });
    const done = manager.run(abort.signal);
    await clock.run({ untilMs: 60_000, done: () => false });
    expect(world.calls.get('DeregisterTargets') ?? 0).toBe(0);

    await store.putFleetSpec({ name: 'web', spec: spec('v2'), expectedGeneration: first.generation, nowMs: clock.nowMs() });
    await clock.run({ untilMs: clock.nowMs() + 600_000, done: () => false });
    const status = await store.getStatus('web');
    const health = await traffic.health([TG]);
    abort.abort();
    await clock.run({ untilMs: clock.nowMs() + 60_000 });
    await done;

    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 9, inSync: 9 } });
    expect(world.calls.get('DeregisterTargets')).toBe(9);
    expect(world.calls.get('RegisterTargets')).toBe(9);
    expect(traffic.maxDeregistered).toBeLessThanOrEqual(3);
    expect(traffic.maxDeregistered).toBeGreaterThan(0);
    expect([...health.values()]).toEqual(Array(9).fill('healthy'));
  });
});
