/** A fleet deleted from the store: its election stops (no more lease reads or attempts) and its lease is freed. */
import { describe, expect, it } from 'vitest';
import { Manager } from '../../controller/manager.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { silentLogger } from '../../controller/log.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimGroups } from '../../controller/sim/simGroups.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { parseFleetSpec } from '../../state/validate.ts';

const LEASE_CALLS = new Set(['getLease', 'acquireLease', 'renewLease', 'releaseLease']);

describe('a deleted fleet', () => {
  it('gets no more lease attempts from any controller, and its leader lets the lease go', async () => {
    const clock = new VirtualClock(0);
    const store = new MemoryStore();
    const groups = new SimGroups();
    for (const fleet of ['kept', 'gone']) {
      const world = new SimWorld({ clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-0' });
      world.launch(2, { inService: true, revision: 'rev-0' });
      groups.add({
        fleet, groupName: `${fleet}-asg`, targetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${fleet}/0123456789abcdef`,
        world, fleetPort: new SimFleet(world), traffic: new SimTraffic(world), commands: new SimCommands(world, { syncMs: 1_000, probeMs: 1_000, failRate: 0 }),
      });
      await store.putFleetSpec({
        name: fleet, expectedGeneration: 0, nowMs: 0,
        spec: parseFleetSpec({ autoScalingGroupName: `${fleet}-asg`, source: 's3://sim-bucket/app', destination: '/var/www/app', revision: 'rev-0' }),
      });
    }
    // every lease call, by fleet, of either controller
    const leaseCalls: Array<{ fleet: string; atMs: number }> = [];
    const counted = new Proxy(store, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (LEASE_CALLS.has(String(prop))) {
            const a = args[0] as string | { fleet?: string; lease?: { fleet: string } };
            const fleet = typeof a === 'string' ? a : a.fleet ?? a.lease?.fleet ?? '';
            leaseCalls.push({ fleet, atMs: clock.nowMs() });
          }
          return (value as (...x: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const fleetScanMs = 10_000;
    const abort = new AbortController();
    const managers = ['a', 'b'].map((holder) => new Manager({
      store: counted, fleetPort: groups.fleetPort(), commands: groups.commands(), traffic: groups.traffic(), clock,
      random: seededRandom(2), holder, settings: DEFAULT_SETTINGS, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs, log: silentLogger,
    }));
    const runs = managers.map((m) => m.run(abort.signal));
    await clock.run({ untilMs: 30_000 });
    const leader = managers.find((m) => m.leases().includes('gone'));
    expect(leader, 'someone leads the fleet before it is deleted').toBeDefined();

    store.deleteRawFleet('gone');
    const deletedAtMs = clock.nowMs();
    await clock.run({ untilMs: deletedAtMs + 120_000 });

    // within one fleet scan every election of it stopped; afterwards not one lease call names it
    const late = leaseCalls.filter((c) => c.fleet === 'gone' && c.atMs > deletedAtMs + fleetScanMs);
    expect(late).toEqual([]);
    expect(managers.flatMap((m) => m.leases())).toEqual(['kept']);
    expect(await store.getLease('gone')).toBeNull();
    // the fleet still in the store is still led and renewed
    expect(leaseCalls.filter((c) => c.fleet === 'kept' && c.atMs > deletedAtMs + fleetScanMs).length).toBeGreaterThan(0);

    abort.abort();
    await clock.run({ untilMs: clock.nowMs() + 60_000 });
    await Promise.all(runs);
  });
});
