/**
 * A launching host is let into service only at the revision meant for it now (F13 of the fault-schedule
 * suite): when the spec moves on while the host syncs and the pass that should tell it fails, the host is not
 * completed at the old revision; it is synced again to the new one.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import { startSimController } from '../support/simController.ts';

describe('a launching host whose target moves on while it syncs', () => {
  it('is not completed at the old revision when the passes after the change fail', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 10_000 });
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const [launched] = t.world.launch(1);
    const item = async () => (await t.store.listHosts('web')).hosts.find((h) => h.instanceId === launched);
    for (let waited = 0; waited < 60_000 && (await item())?.context.commandId == null; waited += 100) await t.advance(100);
    expect((await item())?.state).toBe('syncing');
    // the group cannot be listed for a while: the passes that would tell the host about v2 fail
    const list = t.fleet.list.bind(t.fleet);
    let failing = true;
    t.fleet.list = (ref) => (failing ? Promise.reject(new TransientError('DescribeAutoScalingGroups: throttled (simulated)')) : list(ref));
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2'), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(45_000);
    failing = false;
    await t.advance(600_000);
    const completions = t.world.completions.filter((c) => c.instanceId === launched);
    const status = await t.store.getStatus('web');
    await t.stop();
    expect(completions.map((c) => [c.result, c.revision])).toEqual([['CONTINUE', 'v2']]);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 3, inSync: 3 } });
  });
});
