/** The status documents: the design's shape, and unreadable items reported on the fleet instead of failing it. */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { fleetDocument, fleetList } from '../../controller/status/fleetDocument.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { hostRecord, statusOf } from './cliHarness.ts';

const spec = parseFleetSpec({
  autoScalingGroupName: 'web-asg', source: 's3://bucket/web', destination: '/var/www/app', revision: 'rev-b',
});

async function storeWithFleets(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.putFleetSpec({ name: 'web', spec, expectedGeneration: 0, nowMs: 1 });
  await store.putFleetSpec({ name: 'api', spec, expectedGeneration: 0, nowMs: 1 });
  return store;
}

describe('fleetDocument', () => {
  it('is the Fleet resource with hosts sorted by instance id, and null for a fleet that does not exist', async () => {
    const store = await storeWithFleets();
    const hosts = [
      hostRecord({ instanceId: 'i-0000000000000002', state: 'inSync', reported: 'rev-b' }),
      hostRecord({ instanceId: 'i-0000000000000001', state: 'queued', reported: 'rev-a' }),
    ];
    for (const host of hosts) await store.putHost({ fleet: 'web', host, token: 1 });
    const status = statusOf({ observedGeneration: 1, desired: 'rev-b', hosts });
    await store.putStatus({ fleet: 'web', status, token: 1 });
    const doc = await fleetDocument(store, 'web');
    expect(doc).toEqual({
      apiVersion: 'fleetsync.dev/v1', kind: 'Fleet', metadata: { name: 'web', generation: 1 }, spec, status,
      hosts: [
        expect.objectContaining({ instanceId: 'i-0000000000000001', state: 'queued', reportedRevision: 'rev-a' }),
        expect.objectContaining({ instanceId: 'i-0000000000000002', state: 'inSync', since: '2023-11-14T22:13:20.000Z' }),
      ],
    });
    expect(await fleetDocument(store, 'nope')).toBeNull();
  });

  it('reports an unreadable host item and an unreadable status item on that fleet only', async () => {
    const store = await storeWithFleets();
    await store.putHost({ fleet: 'web', host: hostRecord({ instanceId: 'i-0000000000000001', state: 'inSync', reported: 'rev-b' }), token: 1 });
    store.putRawHost('web', 'i-00000000000000bd', { instanceId: 'i-00000000000000bd', state: 'dancing' });
    store.putRawStatus('api', { observedGeneration: 'seven' });
    const list = await fleetList(store);
    const [api, web] = list.items;
    expect(web?.hosts.map((h) => h.instanceId)).toEqual(['i-0000000000000001']);
    expect(web?.status?.errors).toEqual([expect.stringMatching(/^host item host i-00000000000000bd: .*state must be one of/)]);
    expect(api?.status?.errors).toEqual([expect.stringMatching(/^status item: .*cannot be read/)]);
    expect(list.errors).toBeUndefined();
  });

  it('lists an unreadable fleet item under errors and every other fleet as usual', async () => {
    const store = await storeWithFleets();
    store.putRawFleet('broken', { name: 'broken', generation: 1, spec: { revision: 'x' } });
    const list = await fleetList(store);
    expect(list.items.map((i) => i.metadata.name)).toEqual(['api', 'web']);
    expect(list.errors).toEqual([expect.objectContaining({ key: 'fleet broken' })]);
  });
});
