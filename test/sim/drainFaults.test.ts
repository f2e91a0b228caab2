/**
 * Drain under faults: a drained host whose sync cannot be sent, or whose host answers busy, stays counted
 * as unavailable until it is registered again, so the rollout never takes more hosts out than maxUnavailable.
 */
import { describe, expect, it } from 'vitest';
import { ThrottledError } from '../../controller/errors.ts';
import type { SendArgs } from '../../controller/ports/commands.ts';
import { startSimController, type SimController } from '../support/simController.ts';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef';
const fields = { targetGroupArns: [TG], rollout: { maxUnavailable: 3, drain: true } };

async function deployV2(t: SimController): Promise<void> {
  const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', fields), expectedGeneration: 0, nowMs: 0 });
  await t.advance(60_000);
  await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', fields), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
}

/** Samples, every virtual second, how many hosts are out of the load balancer and whether one is inSync while out. */
async function watch(t: SimController, ms: number): Promise<{ maxOut: number; inSyncWhileOut: string[] }> {
  let maxOut = 0;
  const inSyncWhileOut = new Set<string>();
  for (let elapsed = 0; elapsed < ms; elapsed += 1_000) {
    await t.advance(1_000);
    const health = await t.traffic.health([TG]);
    const out = [...health].filter(([, state]) => state !== 'healthy').map(([id]) => id);
    maxOut = Math.max(maxOut, out.length);
    for (const host of (await t.store.listHosts('web')).hosts) {
      if (host.state === 'inSync' && out.includes(host.instanceId)) inSyncWhileOut.add(host.instanceId);
    }
  }
  return { maxOut, inSyncWhileOut: [...inSyncWhileOut] };
}

describe('drain under faults', () => {
  it('a drained host whose sync command cannot be sent is registered again and holds its slot until then', async () => {
    const t = startSimController({ hosts: 9, revision: 'v1', syncMs: 20_000 });
    const send = t.commands.send.bind(t.commands);
    let throttledSends = 2;
    t.commands.send = (args: SendArgs) => (args.mode === 'sync' && throttledSends-- > 0
      ? Promise.reject(new ThrottledError('SendCommand: Rate exceeded (simulated)'))
      : send(args));
    await deployV2(t);
    const seen = await watch(t, 600_000);
    const status = await t.store.getStatus('web');
    const health = await t.traffic.health([TG]);
    await t.stop();

    expect(throttledSends).toBeLessThan(0);
    expect(seen.maxOut).toBeLessThanOrEqual(3);
    expect(t.traffic.maxDeregistered).toBeLessThanOrEqual(3);
    expect(seen.inSyncWhileOut).toEqual([]);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 9, inSync: 9 } });
    expect([...health.values()]).toEqual(Array(9).fill('healthy'));
  });

  it('a drained host that answers busy is registered again and holds its slot until then', async () => {
    const t = startSimController({ hosts: 9, revision: 'v1', syncMs: 20_000 });
    // an orphan command holds the lock of the first hosts for a while: their syncs answer busy
    const held = t.hosts.slice(0, 3).map((id) => t.world.instances.get(id)!);
    await deployV2(t);
    for (const host of held) host.running += 1;
    t.clock.setTimer(30_000, () => {
      for (const host of held) host.running -= 1;
    });
    const seen = await watch(t, 600_000);
    const status = await t.store.getStatus('web');
    await t.stop();

    expect(seen.maxOut).toBeLessThanOrEqual(3);
    expect(t.traffic.maxDeregistered).toBeLessThanOrEqual(3);
    expect(seen.inSyncWhileOut).toEqual([]);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 9, inSync: 9 } });
  });

  it('drains more than 10 hosts at once without a listener-leak warning (F10)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(`${w.name}: ${w.message}`);
    };
    process.on('warning', onWarning);
    try {
      const t = startSimController({ hosts: 24, revision: 'v1', syncMs: 20_000 });
      const many = { targetGroupArns: [TG], rollout: { maxUnavailable: 24, drain: true } };
      const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', many), expectedGeneration: 0, nowMs: 0 });
      await t.advance(60_000);
      // the target group reports the hosts draining for a while: each drain waits
      const health = t.traffic.health.bind(t.traffic);
      t.traffic.health = async (arns) => new Map([...(await health(arns))].map(([id, state]) => [id, state === 'healthy' ? state : 'draining']));
      await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', many), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
      await t.advance(30_000);
      await t.stop();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  });
});
