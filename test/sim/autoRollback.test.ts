/**
 * maxFailures halts a rollout; with autoRollback the leader sets the desired revision back to the last one the
 * whole fleet reached, records why, and the fleet comes back to it.
 */
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

async function rollout(autoRollback: boolean) {
  const clock = new VirtualClock(0);
  const world = new SimWorld({ clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'v1' });
  world.launch(8, { inService: true, revision: 'v1' });
  const store = new MemoryStore();
  const sim = { syncMs: 30_000, probeMs: 1_000, failRate: 0 };
  const abort = new AbortController();
  const manager = new Manager({
    store, fleetPort: new SimFleet(world), commands: new SimCommands(world, sim), traffic: new SimTraffic(world), clock,
    random: seededRandom(2), holder: 'test', settings: DEFAULT_SETTINGS, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 5_000,
    log: silentLogger,
  });
  const spec = (revision: string) => parseFleetSpec({
    autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision,
    rollout: { maxUnavailable: 2, maxFailures: 2, maxAttempts: 1, autoRollback },
  });
  const first = await store.putFleetSpec({ name: 'web', spec: spec('v1'), expectedGeneration: 0, nowMs: 0 });
  const done = manager.run(abort.signal);
  await clock.run({ untilMs: 120_000, done: () => false });
  expect((await store.getStatus('web'))?.revision).toBe('v1');

  sim.failRate = 1; // every sync to v2 fails
  await store.putFleetSpec({ name: 'web', spec: spec('v2'), expectedGeneration: first.generation, nowMs: clock.nowMs() });
  await clock.run({ untilMs: clock.nowMs() + 900_000, done: () => false });
  const result = {
    fleet: await store.getFleet('web'), status: await store.getStatus('web'), history: await store.listHistory('web'),
    revisions: world.live().map((i) => i.revision),
  };
  abort.abort();
  await clock.run({ untilMs: clock.nowMs() + 60_000 });
  await done;
  return result;
}

describe('a rollout whose hosts fail', () => {
  it('halts at maxFailures: no further in-service host is touched, condition Degraded', async () => {
    const r = await rollout(false);
    expect(r.fleet?.spec.revision).toBe('v2');
    expect(r.status?.hostCounts.failed).toBe(2);
    expect(r.status?.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'MaxFailuresReached' });
    expect(r.history.filter((e) => e.type === 'halted')).toHaveLength(1);
    expect(r.history.some((e) => e.type === 'autoRollback')).toBe(false);
    // the first wave (maxUnavailable 2) failed; the other 6 hosts were never synced
    expect(r.revisions.every((rev) => rev === 'v1')).toBe(true);
  });

  it('with autoRollback, goes back to the last revision the whole fleet reached and records why', async () => {
    const r = await rollout(true);
    expect(r.fleet?.spec.revision).toBe('v1');
    const rollback = r.history.find((e) => e.type === 'autoRollback');
    expect(rollback).toMatchObject({ actor: 'controller', revision: 'v1' });
    expect(rollback?.reason).toMatch(/2 host\(s\) failed at v2 \(maxFailures 2\)/);
    expect(r.status).toMatchObject({ revision: 'v1', lastAttemptedRevision: 'v1' });
    expect(r.status?.hostCounts).toMatchObject({ total: 8, inSync: 8, failed: 0 });
    expect(r.status?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  });
});
