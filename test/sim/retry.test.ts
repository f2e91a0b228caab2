/** `fleetsync retry FLEET INSTANCE` writes a request in the spec; the leader tries that failed host again. */
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

describe('retry', () => {
  it('brings a quarantined host back into the rollout once per request', async () => {
    const clock = new VirtualClock(0);
    const world = new SimWorld({ clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'v1' });
    const [host] = world.launch(1, { inService: true, revision: 'v1' });
    const store = new MemoryStore();
    const sim = { syncMs: 10_000, probeMs: 1_000, failRate: 1 };
    const commands = new SimCommands(world, sim);
    const abort = new AbortController();
    const manager = new Manager({
      store, fleetPort: new SimFleet(world), commands, traffic: new SimTraffic(world), clock, random: seededRandom(2),
      holder: 'test', settings: DEFAULT_SETTINGS, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 5_000, log: silentLogger,
    });
    const spec = (retries: Record<string, string>) => parseFleetSpec({
      autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision: 'v2', retries,
      rollout: { maxAttempts: 2 },
    });
    let record = await store.putFleetSpec({ name: 'web', spec: spec({}), expectedGeneration: 0, nowMs: 0 });
    const done = manager.run(abort.signal);
    await clock.run({ untilMs: 600_000, done: () => false });
    const failed = (await store.listHosts('web')).hosts[0]!;
    expect(failed).toMatchObject({ state: 'failed', context: { attempt: 2, reportedRevision: 'v1' } });
    expect(commands.syncsSent).toBe(2);

    // the cause is fixed; the operator asks for a retry
    sim.failRate = 0;
    record = await store.putFleetSpec({ name: 'web', spec: spec({ [host!]: 'req-1' }), expectedGeneration: record.generation, nowMs: clock.nowMs() });
    await clock.run({ untilMs: clock.nowMs() + 120_000, done: () => false });
    expect((await store.listHosts('web')).hosts[0]).toMatchObject({ state: 'inSync', context: { reportedRevision: 'v2' } });
    expect(commands.syncsSent).toBe(3);

    // the same request seen again (another spec change) does not retry anything more
    await store.putFleetSpec({ name: 'web', spec: { ...spec({ [host!]: 'req-1' }), keepReleases: 3 }, expectedGeneration: record.generation, nowMs: clock.nowMs() });
    await clock.run({ untilMs: clock.nowMs() + 120_000, done: () => false });
    expect(commands.syncsSent).toBe(3);
    abort.abort();
    await clock.run({ untilMs: clock.nowMs() + 60_000 });
    await done;
  });
});
