/**
 * A slot granted to a host while its `queued` state is still being saved stays counted until the host has
 * taken it: with a slow store and one worker, the rollout never has more in-service hosts syncing than
 * maxUnavailable.
 */
import { describe, expect, it } from 'vitest';
import { startSimController } from '../support/simController.ts';

describe('grants and slow host writes', () => {
  it('a grant that arrives while the host is being saved is not dropped from the budget', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 20_000, settings: { workers: 1 } });
    // the group lists the hosts highest id first, so the host queued first is not the one the plan prefers
    const listed = [...t.world.instances.entries()].reverse();
    t.world.instances.clear();
    for (const [id, inst] of listed) t.world.instances.set(id, inst);
    const rollout = { maxUnavailable: 1 };
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const putHost = t.store.putHost.bind(t.store);
    t.store.putHost = async (args) => {
      await t.clock.sleep(300);
      await putHost(args);
    };
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(600_000);
    const status = await t.store.getStatus('web');
    await t.stop();
    expect(t.world.maxInServiceBusy).toBe(1);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 2, inSync: 2 } });
  });
});
