import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { StaleTokenError } from '../../controller/errors.ts';
import { hostFixture, specFixture, statusFixture, storeContract } from './store.contract.ts';

storeContract('MemoryStore', {
  async create() {
    const store = new MemoryStore();
    return {
      store,
      async putRawHost(fleet, instanceId, value) { store.putRawHost(fleet, instanceId, value); },
      async putRawFleet(name, value) { store.putRawFleet(name, value); },
    };
  },
});

describe('MemoryStore only', () => {
  it('counts each call as one read or one write', async () => {
    const store = new MemoryStore();
    await store.putFleetSpec({ name: 'web', spec: specFixture(), expectedGeneration: 0, nowMs: 0 });
    await store.putFleetSpec({ name: 'web', spec: specFixture(), expectedGeneration: 0, nowMs: 0 }).catch(() => undefined);
    await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 10, nowMs: 0 });
    await store.getFleet('web');
    await store.listHosts('web');
    await store.listFleets();
    expect({ reads: store.reads, writes: store.writes }).toEqual({ reads: 3, writes: 3 });
  });

  it("also refuses a write older than the fleet's current lease, before the new leader wrote the item", async () => {
    const store = new MemoryStore();
    const a = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 10, nowMs: 0 }))!;
    await store.acquireLease({ fleet: 'web', holder: 'B', durationMs: 10, nowMs: 20 });
    await expect(store.putHost({ fleet: 'web', host: hostFixture('i-0000000000000000a'), token: a.token }))
      .rejects.toBeInstanceOf(StaleTokenError);
    await expect(store.putStatus({ fleet: 'web', status: statusFixture(1), token: a.token }))
      .rejects.toBeInstanceOf(StaleTokenError);
    expect((await store.listHosts('web')).hosts).toEqual([]);
  });
});
