/**
 * The invariant checker itself (issue 13): each invariant is seen broken when the world breaks it, and a
 * world that keeps them all gives no violation. Without this, a suite reporting 0 violations proves nothing.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { InvariantChecker, convergenceBoundMs } from '../../controller/sim/invariants.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import type { SendArgs } from '../../controller/ports/commands.ts';
import type { HostRecord } from '../../state/host.ts';

const FLEET = 'sim';
const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/sim/0123456789abcdef';

async function setup(options: { hosts: number; maxUnavailable: number }) {
  const clock = new VirtualClock(0);
  const world = new SimWorld({
    clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-0',
  });
  const ids = world.launch(options.hosts, { inService: true, revision: 'rev-0' });
  const store = new MemoryStore();
  const commands = new SimCommands(world, { syncMs: 30_000, probeMs: 1_000, failRate: 0 });
  const traffic = new SimTraffic(world);
  const checker = new InvariantChecker({ fleet: FLEET, world, store, commands, traffic, maxUnavailable: options.maxUnavailable });
  await store.putFleetSpec({
    name: FLEET, expectedGeneration: 0, nowMs: 0,
    spec: parseFleetSpec({ autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision: 'rev-1' }),
  });
  const lease = await store.acquireLease({ fleet: FLEET, holder: 'c1', durationMs: 15_000, nowMs: 0 });
  checker.onLease('c1', lease);
  const send = (instanceIds: string[], attemptId = 'a-1-1'): SendArgs => ({
    fleet: FLEET, attemptId, mode: 'sync', instanceIds, timeoutSeconds: 900,
    params: { source: 's3://bucket/app', revision: 'rev-1', destination: '/srv/app', strategy: 'release', excludes: [], links: {}, keepReleases: 3 },
  });
  const host = (instanceId: string, state: HostRecord['state'], deregistered = false): unknown => ({
    instanceId, state, context: { instanceId, deregistered },
  });
  return { clock, world, ids, store, commands, traffic, checker, send, host };
}

describe('invariant checker', () => {
  it('a world that keeps every promise gives no violation', async () => {
    const t = await setup({ hosts: 4, maxUnavailable: 2 });
    const args = t.send(t.ids.slice(0, 2));
    t.checker.beforeSend('c1', args);
    await t.commands.send(args);
    t.checker.step();
    t.checker.afterWrite('c1', 'putStatus');
    await t.clock.run({ untilMs: 60_000, onStep: () => t.checker.step() });
    expect(t.checker.violations).toEqual([]);
    expect(t.checker.checks).toBeGreaterThan(2);
  });

  it('sees a second command sent to a host while one runs there', async () => {
    const t = await setup({ hosts: 2, maxUnavailable: 2 });
    await t.commands.send(t.send([t.ids[0]!]));
    t.checker.beforeSend('c1', t.send([t.ids[0]!], 'a-1-2'));
    expect(t.checker.violations.map((v) => v.invariant)).toEqual(['oneCommandPerHost']);
    t.checker.beforeSend('c1', t.send([t.ids[1]!, t.ids[1]!], 'a-1-3'));
    expect(t.checker.violations.map((v) => v.detail)).toContain(`c1 named ${t.ids[1]} twice in one sync command (a-1-3)`);
  });

  it('sees more in-service hosts out of service than the budget, syncing or out of the target group', async () => {
    const t = await setup({ hosts: 4, maxUnavailable: 1 });
    await t.commands.send(t.send([t.ids[0]!]));
    t.checker.step();
    expect(t.checker.violations).toEqual([]);
    t.store.putRawHost(FLEET, t.ids[1]!, t.host(t.ids[1]!, 'draining'));
    await t.traffic.deregister({ targetGroupArns: [TG], instanceIds: [t.ids[1]!] });
    t.checker.step();
    expect(t.checker.violations.map((v) => v.invariant)).toEqual(['budget']);
  });

  it('sees a host left out of its target group once its attempt ended, unless its item says it is still owed', async () => {
    const t = await setup({ hosts: 3, maxUnavailable: 3 });
    await t.traffic.deregister({ targetGroupArns: [TG], instanceIds: [t.ids[0]!, t.ids[1]!] });
    t.store.putRawHost(FLEET, t.ids[0]!, t.host(t.ids[0]!, 'backoff', true));
    t.store.putRawHost(FLEET, t.ids[1]!, t.host(t.ids[1]!, 'inSync'));
    t.checker.step();
    expect(t.checker.violations.map((v) => [v.invariant, v.detail.split(' ')[0]])).toEqual([['registeredAfterAttempt', t.ids[1]]]);
  });

  it('sees a launching host let into service at a revision not meant for it', async () => {
    const t = await setup({ hosts: 1, maxUnavailable: 1 });
    const [fresh] = t.world.launch(1);
    t.checker.step();
    t.checker.beforeLifecycle('c1', fresh!, 'CONTINUE');
    expect(t.checker.violations.map((v) => v.invariant)).toEqual(['launchRevision']);
    expect(t.checker.violations[0]!.detail).toContain('at rev-0; meant: rev-1');
  });

  it('sees a command and a write from a controller whose lease token is no longer the newest', async () => {
    const t = await setup({ hosts: 1, maxUnavailable: 1 });
    await t.store.releaseLease((await t.store.getLease(FLEET))!);
    t.checker.onLease('c2', await t.store.acquireLease({ fleet: FLEET, holder: 'c2', durationMs: 15_000, nowMs: 20_000 }));
    t.checker.beforeSend('c1', t.send(t.ids));
    t.checker.afterWrite('c1', 'appendHistory');
    t.checker.afterWrite('c2', 'appendHistory');
    expect(t.checker.violations.map((v) => v.invariant)).toEqual(['newestToken', 'leaderWrites']);
  });

  it('sees a run that did not converge within its bound once faults ended', async () => {
    const t = await setup({ hosts: 1, maxUnavailable: 1 });
    const boundMs = convergenceBoundMs({
      hosts: 4, budget: 2, maxSyncMs: 30_000, leaseDurationMs: 15_000, backoffCapMs: 300_000, syncTimeoutMs: 900_000,
      pollMs: 5_000, batchWindowMs: 1_000, resyncMs: 30_000,
    });
    expect(boundMs).toBe(15_000 + 300_000 + 900_000 + 30_000 + 2 * 36_000);
    t.checker.convergence({ convergedAtMs: 100_000 + boundMs, quietAtMs: 100_000, boundMs });
    expect(t.checker.violations).toEqual([]);
    t.checker.convergence({ convergedAtMs: 100_001 + boundMs, quietAtMs: 100_000, boundMs });
    t.checker.convergence({ convergedAtMs: null, quietAtMs: 100_000, boundMs });
    expect(t.checker.violations.map((v) => v.invariant)).toEqual(['convergence', 'convergence']);
  });
});
