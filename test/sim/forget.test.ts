/** A terminated host's item is deleted before the host is forgotten: a failed delete is tried again. */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import { startSimController } from '../support/simController.ts';

describe('a host that leaves the group', () => {
  it('has its item deleted even when the first delete fails', async () => {
    const t = startSimController({ hosts: 3, revision: 'v1' });
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const deleteHost = t.store.deleteHost.bind(t.store);
    let refused = 0;
    t.store.deleteHost = (args) => {
      if (refused === 0) {
        refused += 1;
        return Promise.reject(new TransientError('DeleteItem: connection reset (simulated)'));
      }
      return deleteHost(args);
    };
    const gone = t.hosts[0]!;
    t.world.terminate(gone);
    await t.advance(120_000);
    const items = (await t.store.listHosts('web')).hosts.map((h) => h.instanceId);
    const status = await t.store.getStatus('web');
    await t.stop();
    expect(refused).toBe(1);
    expect(items).not.toContain(gone);
    expect(status?.hostCounts.total).toBe(2);
  });
});
