/**
 * Launch events with two controller processes (real Managers, virtual time): only the fleet's leader follows
 * its group's events, so a queue's message is never taken by a process that cannot act on it; when the leader
 * goes, the new leader follows, and an event sent meanwhile waits for it.
 */
import { describe, expect, it } from 'vitest';
import { Manager } from '../../controller/manager.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { silentLogger } from '../../controller/log.ts';
import type { LaunchEvents } from '../../controller/ports/launchEvents.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimLaunchEvents } from '../../controller/sim/simLaunchEvents.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { parseFleetSpec } from '../../state/validate.ts';

const FLEET = 'web';
const GROUP = 'web-asg';
const SYNC_MS = 5_000;
const RESYNC_MS = 600_000;

describe('launch events with two controllers', () => {
  it('are followed by the fleet\'s leader only, and by the next leader once it takes over', async () => {
    const clock = new VirtualClock(0);
    const world = new SimWorld({ clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-1' });
    world.launch(4, { inService: true, revision: 'rev-1' });
    world.intendedRevision = () => 'rev-1';
    const events = new SimLaunchEvents({ clock, random: seededRandom(2), delayMs: 1_000 });
    world.onLaunchWait = (instanceId) => events.publish({ autoScalingGroupName: GROUP, instanceId });
    const store = new MemoryStore();
    await store.putFleetSpec({
      name: FLEET, expectedGeneration: 0, nowMs: 0,
      spec: parseFleetSpec({ autoScalingGroupName: GROUP, source: 's3://bucket/app', destination: '/srv/app', revision: 'rev-1' }),
    });
    const fleetPort = new SimFleet(world);
    const commands = new SimCommands(world, { syncMs: SYNC_MS, probeMs: 1_000, failRate: 0 });
    const traffic = new SimTraffic(world);

    /** who follows which group now */
    const following = new Map<string, string>();
    const start = (holder: string): { stop: () => void; done: Promise<void> } => {
      const recording: LaunchEvents = {
        follow: (args) => {
          following.set(holder, args.autoScalingGroupName);
          return events.follow(args).finally(() => following.delete(holder));
        },
      };
      const abort = new AbortController();
      const done = new Manager({
        store, fleetPort, commands, traffic, clock, random: seededRandom(holder.length), holder, launchEvents: recording,
        settings: { ...DEFAULT_SETTINGS, resyncMs: RESYNC_MS }, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 5_000, log: silentLogger,
      }).run(abort.signal);
      return { stop: () => abort.abort(), done };
    };

    const a = start('controller-a');
    const b = start('controller-b');
    await clock.run({ untilMs: 60_000 });
    const leader = (await store.getLease(FLEET))?.holder;
    expect(['controller-a', 'controller-b']).toContain(leader);
    expect([...following.entries()]).toEqual([[leader, GROUP]]);

    // a launch while it leads: in service within the event, one sync and a poll, far from the resync
    const [first] = world.launch(1);
    await clock.run({ untilMs: clock.nowMs() + 30_000 });
    expect(world.instances.get(first!)?.lifecycleState).toBe('InService');

    // the leader stops; an instance launched before the other takes over waits on the queue for it
    const [old, next] = leader === 'controller-a' ? [a, 'controller-b'] : [b, 'controller-a'];
    old.stop();
    await old.done;
    expect(following.has(leader!)).toBe(false);
    const [second] = world.launch(1);
    const launchedAtMs = clock.nowMs();
    await clock.run({ untilMs: clock.nowMs() + 120_000, done: () => world.instances.get(second!)?.lifecycleState === 'InService' });
    expect(world.instances.get(second!)?.lifecycleState).toBe('InService');
    expect((await store.getLease(FLEET))?.holder).toBe(next);
    expect([...following.entries()]).toEqual([[next, GROUP]]);
    // taken over within a lease (a stopped leader releases it), then served by the waiting event, not the resync
    expect(clock.nowMs() - launchedAtMs).toBeLessThan(DEFAULT_LEADER_SETTINGS.leaseDurationMs + SYNC_MS + 15_000);
    expect(events.lost).toBe(0);
    expect(events.delivered).toBe(2);

    for (const c of [a, b]) c.stop();
    await clock.run({ untilMs: clock.nowMs() + 60_000 });
    await Promise.all([a.done, b.done]);
  });
});
