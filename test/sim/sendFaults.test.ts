/**
 * Sending under faults: a SendCommand that ran although the caller saw an error is found (findByAttempt) and
 * followed rather than sent again; a command left running on a host (an orphan) is cancelled when the host
 * answers busy; and a host that stays busy spends its attempts instead of being retried for ever.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import type { SendArgs } from '../../controller/ports/commands.ts';
import { startSimController } from '../support/simController.ts';

const params = {
  source: 's3://bucket/app', revision: 'v2', destination: '/srv/app', strategy: 'release' as const, excludes: [], links: {}, keepReleases: 5,
};

describe('sending under faults', () => {
  it('a sync command that ran although its send failed is adopted, not sent again', async () => {
    const t = startSimController({ hosts: 4, revision: 'v1', syncMs: 20_000 });
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout: { maxUnavailable: 4 } }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const send = t.commands.send.bind(t.commands);
    let ambiguous = 1;
    const sentTo: string[] = [];
    t.commands.send = async (args: SendArgs) => {
      const out = await send(args);
      if (args.mode === 'sync') sentTo.push(...args.instanceIds);
      if (args.mode === 'sync' && ambiguous-- > 0) throw new TransientError('SendCommand: socket hang up after the request was sent (simulated)');
      return out;
    };
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout: { maxUnavailable: 4 } }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(600_000);
    const status = await t.store.getStatus('web');
    await t.stop();
    expect(ambiguous).toBe(0);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 4, inSync: 4 } });
    expect(sentTo.sort()).toEqual([...t.hosts].sort());
    expect(t.world.maxRunningPerHost).toBe(1);
  });

  it('an orphan command holding a host is cancelled when the host answers busy, and the host is synced', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 20_000 });
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    // a command of this fleet nobody follows any more (an earlier leader's) hangs on the first host
    t.sim.syncMs = 10_000_000;
    const orphan = await t.commands.send({ fleet: 'web', attemptId: 'a-0-1', mode: 'sync', instanceIds: [t.hosts[0]!], params, timeoutSeconds: 900 });
    t.sim.syncMs = 20_000;
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2'), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(900_000);
    const status = await t.store.getStatus('web');
    const orphanResult = (await t.commands.results(orphan.commandId))[0];
    await t.stop();
    expect(orphanResult?.status).toBe('cancelled');
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 2, inSync: 2 } });
  });

  it('a host that stays busy (a lock held outside fleetsync) spends its attempts and fails instead of looping', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 20_000 });
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout: { maxAttempts: 2 } }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    t.world.instances.get(t.hosts[0]!)!.running += 1;
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout: { maxAttempts: 2 } }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(3 * 3_600_000);
    const stuck = (await t.store.listHosts('web')).hosts.find((h) => h.instanceId === t.hosts[0]);
    const syncs = t.commands.syncsSent;
    await t.stop();
    expect(stuck).toMatchObject({ state: 'failed', context: { failedRevision: 'v2' } });
    expect(stuck?.context.lastError).toMatch(/busy|lock/);
    expect(syncs).toBeLessThan(30);
  });
});
