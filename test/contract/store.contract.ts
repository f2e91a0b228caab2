/**
 * The Store contract: one suite every Store adapter must pass (MemoryStore, DynamoStore on dynalite).
 * Each test gets a fresh, empty store from the harness.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../controller/ports/store.ts';
import { ConflictError, MalformedItemError, StaleTokenError } from '../../controller/errors.ts';
import type { HostRecord } from '../../state/host.ts';
import type { FleetSpec, FleetStatus } from '../../state/spec.ts';
import { parseFleetSpec } from '../../state/validate.ts';

export interface StoreUnderTest {
  store: Store;
  /** Writes a raw host item as a hand edit of the table would. */
  putRawHost(fleet: string, instanceId: string, value: unknown): Promise<void>;
  /** Writes a raw fleet spec item as a hand edit of the table would. */
  putRawFleet(name: string, value: unknown): Promise<void>;
}

export interface StoreHarness {
  /** A fresh empty store; list calls should page every few items so paging is exercised. */
  create(): Promise<StoreUnderTest>;
}

export function specFixture(revision = 'r1'): FleetSpec {
  return parseFleetSpec({
    autoScalingGroupName: 'web-asg', source: 's3://my-codebase/web', destination: '/var/www/app', revision,
  });
}

export function hostFixture(instanceId: string, overrides: Partial<HostRecord['context']> = {}): HostRecord {
  return {
    instanceId,
    state: 'inSync',
    context: {
      instanceId, lifecycleState: 'InService', launching: false, lifecycleCompleted: true, agentOnline: true,
      reportedRevision: 'r1', desiredRevision: 'r1', targetRevision: 'r1', attempt: 1,
      attemptId: `a-${instanceId}`, commandId: 'cmd-1', deadlineMs: null, lastError: null, failedRevision: null,
      retryRequestId: null, deregistered: false, sinceMs: 1_000, ...overrides,
    },
  };
}

export function statusFixture(observedGeneration: number): FleetStatus {
  return {
    observedGeneration, revision: 'r1',
    hostCounts: { total: 2, inSync: 2, syncing: 0, queued: 0, failed: 0, launching: 0 },
    conditions: [{ type: 'Ready', status: 'True', reason: 'AllInSync', message: '2/2 hosts at r1', lastTransitionTime: '2024-01-01T00:00:00.000Z' }],
    updatedAtMs: 5_000,
  };
}

const instanceId = (n: number): string => `i-${n.toString(16).padStart(17, '0')}`;

export function storeContract(name: string, harness: StoreHarness): void {
  describe(`Store contract: ${name}`, () => {
    let t: StoreUnderTest;
    let store: Store;
    beforeEach(async () => {
      t = await harness.create();
      store = t.store;
    });

    describe('fleet specs', () => {
      it('creates at generation 1, bumps by one per change, and rejects a stale generation', async () => {
        expect(await store.getFleet('web')).toBeNull();
        const created = await store.putFleetSpec({ name: 'web', spec: specFixture('r1'), expectedGeneration: 0, nowMs: 10 });
        expect(created).toEqual({ name: 'web', generation: 1, spec: specFixture('r1'), updatedAtMs: 10 });
        expect(await store.getFleet('web')).toEqual(created);

        await expect(store.putFleetSpec({ name: 'web', spec: specFixture('r9'), expectedGeneration: 0, nowMs: 11 }))
          .rejects.toBeInstanceOf(ConflictError);
        const changed = await store.putFleetSpec({ name: 'web', spec: specFixture('r2'), expectedGeneration: 1, nowMs: 12 });
        expect(changed.generation).toBe(2);
        // a writer that read generation 1 before the change above must lose
        await expect(store.putFleetSpec({ name: 'web', spec: specFixture('r3'), expectedGeneration: 1, nowMs: 13 }))
          .rejects.toBeInstanceOf(ConflictError);
        const stored = await store.getFleet('web');
        expect(stored?.generation).toBe(2);
        expect(stored?.spec.revision).toBe('r2');
      });

      it('refuses to change a fleet that does not exist', async () => {
        await expect(store.putFleetSpec({ name: 'ghost', spec: specFixture(), expectedGeneration: 3, nowMs: 1 }))
          .rejects.toBeInstanceOf(ConflictError);
        expect(await store.getFleet('ghost')).toBeNull();
      });

      it('hands out copies: changing a returned record changes nothing stored', async () => {
        const spec = specFixture('r1');
        const created = await store.putFleetSpec({ name: 'web', spec, expectedGeneration: 0, nowMs: 1 });
        spec.revision = 'mutated-input';
        created.spec.excludes.push('mutated-output');
        const read = await store.getFleet('web');
        expect(read?.spec.revision).toBe('r1');
        expect(read?.spec.excludes).toEqual(['media/*', 'var/*']);
      });

      it('lists every fleet by name, over several pages', async () => {
        const names = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'];
        for (const n of [...names].reverse()) {
          await store.putFleetSpec({ name: n, spec: specFixture(`rev-${n}`), expectedGeneration: 0, nowMs: 1 });
        }
        const { fleets, malformed } = await store.listFleets();
        expect(malformed).toEqual([]);
        expect(fleets.map((f) => f.name)).toEqual(names);
        expect(fleets.map((f) => f.spec.revision)).toEqual(names.map((n) => `rev-${n}`));
      });

      it('reports a malformed spec item in listFleets and keeps the others; getFleet throws MalformedItemError', async () => {
        await store.putFleetSpec({ name: 'good', spec: specFixture(), expectedGeneration: 0, nowMs: 1 });
        await t.putRawFleet('bad', { name: 'bad', generation: 4, updatedAtMs: 1, spec: { ...specFixture(), revision: '../etc' } });
        const { fleets, malformed } = await store.listFleets();
        expect(fleets.map((f) => f.name)).toEqual(['good']);
        expect(malformed).toHaveLength(1);
        expect(malformed[0]?.key).toContain('bad');
        expect(malformed[0]?.error).toContain('revision');
        await expect(store.getFleet('bad')).rejects.toBeInstanceOf(MalformedItemError);
      });
    });

    describe('status', () => {
      it('is fenced by the lease token', async () => {
        expect(await store.getStatus('web')).toBeNull();
        await store.putStatus({ fleet: 'web', status: statusFixture(1), token: 1 });
        expect(await store.getStatus('web')).toEqual(statusFixture(1));
        await store.putStatus({ fleet: 'web', status: statusFixture(2), token: 1 });
        await store.putStatus({ fleet: 'web', status: statusFixture(3), token: 2 });
        await expect(store.putStatus({ fleet: 'web', status: statusFixture(99), token: 1 }))
          .rejects.toBeInstanceOf(StaleTokenError);
        expect((await store.getStatus('web'))?.observedGeneration).toBe(3);
      });
    });

    describe('hosts', () => {
      it('stores one item per host and rejects a stale token without changing the item', async () => {
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1)), token: 1 });
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1), { attempt: 2 }), token: 2 });
        await expect(store.putHost({ fleet: 'web', host: hostFixture(instanceId(1), { attempt: 7 }), token: 1 }))
          .rejects.toBeInstanceOf(StaleTokenError);
        await expect(store.deleteHost({ fleet: 'web', instanceId: instanceId(1), token: 1 }))
          .rejects.toBeInstanceOf(StaleTokenError);
        const { hosts, malformed } = await store.listHosts('web');
        expect(malformed).toEqual([]);
        expect(hosts).toEqual([hostFixture(instanceId(1), { attempt: 2 })]);
      });

      it('deletes with a current token; deleting an absent host is harmless', async () => {
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1)), token: 3 });
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(2)), token: 3 });
        await store.deleteHost({ fleet: 'web', instanceId: instanceId(1), token: 3 });
        await store.deleteHost({ fleet: 'web', instanceId: instanceId(9), token: 3 });
        expect((await store.listHosts('web')).hosts.map((h) => h.instanceId)).toEqual([instanceId(2)]);
      });

      it('lists every host of one fleet only, over several pages', async () => {
        const ids = Array.from({ length: 10 }, (_, i) => instanceId(i + 1));
        for (const id of ids) await store.putHost({ fleet: 'web', host: hostFixture(id), token: 1 });
        await store.putHost({ fleet: 'web2', host: hostFixture(instanceId(99)), token: 1 });
        const { hosts, malformed } = await store.listHosts('web');
        expect(malformed).toEqual([]);
        expect(hosts.map((h) => h.instanceId)).toEqual(ids);
        expect((await store.listHosts('nothing-here')).hosts).toEqual([]);
      });

      it('reports malformed host items instead of throwing', async () => {
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1)), token: 1 });
        await t.putRawHost('web', instanceId(2), { instanceId: instanceId(2), state: 'dancing', context: {} });
        await t.putRawHost('web', instanceId(3), 'not even an object');
        const { hosts, malformed } = await store.listHosts('web');
        expect(hosts.map((h) => h.instanceId)).toEqual([instanceId(1)]);
        expect(malformed.map((m) => m.key)).toEqual([`host ${instanceId(2)}`, `host ${instanceId(3)}`]);
        expect(malformed[0]?.error).toContain('state');
      });
    });

    describe('leases', () => {
      it('is taken when free, refused to another holder while live, taken over with a bigger token once expired', async () => {
        expect(await store.getLease('web')).toBeNull();
        const a = await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 0 });
        expect(a).toEqual({ fleet: 'web', holder: 'A', token: 1, expiresAtMs: 1_000 });
        expect(await store.acquireLease({ fleet: 'web', holder: 'B', durationMs: 1_000, nowMs: 999 })).toBeNull();
        expect(await store.getLease('web')).toEqual(a);

        const b = await store.acquireLease({ fleet: 'web', holder: 'B', durationMs: 1_000, nowMs: 1_000 });
        expect(b).toEqual({ fleet: 'web', holder: 'B', token: 2, expiresAtMs: 2_000 });
        expect(await store.renewLease({ lease: a!, durationMs: 1_000, nowMs: 1_001 })).toBeNull();
        // the deposed holder's release must not free the new holder's lease
        await store.releaseLease(a!);
        expect(await store.getLease('web')).toEqual(b);
      });

      it('renews only for the holder with the same token', async () => {
        const a = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 0 }))!;
        const renewed = await store.renewLease({ lease: a, durationMs: 1_000, nowMs: 500 });
        expect(renewed).toEqual({ ...a, expiresAtMs: 1_500 });
        expect(await store.renewLease({ lease: { ...a, holder: 'B' }, durationMs: 1_000, nowMs: 600 })).toBeNull();
        expect(await store.renewLease({ lease: { ...a, token: a.token + 1 }, durationMs: 1_000, nowMs: 600 })).toBeNull();
        expect(await store.acquireLease({ fleet: 'web', holder: 'B', durationMs: 1_000, nowMs: 1_200 })).toBeNull();
        expect((await store.getLease('web'))?.expiresAtMs).toBe(1_500);
      });

      it('renews an expired lease nobody took (no newer token exists, so fencing still holds)', async () => {
        const a = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 0 }))!;
        expect(await store.renewLease({ lease: a, durationMs: 1_000, nowMs: 5_000 })).toEqual({ ...a, expiresAtMs: 6_000 });
      });

      it('never reuses a token, even after a release or for the same holder', async () => {
        const a = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 0 }))!;
        await store.releaseLease(a);
        expect(await store.getLease('web')).toBeNull();
        expect(await store.renewLease({ lease: a, durationMs: 1_000, nowMs: 10 })).toBeNull();
        const again = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 20 }))!;
        expect(again.token).toBe(2);
        const third = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 30 }))!;
        expect(third.token).toBe(3);
        // leases are per fleet
        expect((await store.acquireLease({ fleet: 'api', holder: 'B', durationMs: 1_000, nowMs: 30 }))?.token).toBe(1);
      });

      it("fences a deposed leader's host and status writes once the new leader has written", async () => {
        const a = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 0 }))!;
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1)), token: a.token });
        await store.putStatus({ fleet: 'web', status: statusFixture(1), token: a.token });
        const b = (await store.acquireLease({ fleet: 'web', holder: 'B', durationMs: 1_000, nowMs: 2_000 }))!;
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1), { attempt: 2 }), token: b.token });
        await store.putStatus({ fleet: 'web', status: statusFixture(2), token: b.token });
        await expect(store.putHost({ fleet: 'web', host: hostFixture(instanceId(1), { attempt: 9 }), token: a.token }))
          .rejects.toBeInstanceOf(StaleTokenError);
        await expect(store.putStatus({ fleet: 'web', status: statusFixture(9), token: a.token }))
          .rejects.toBeInstanceOf(StaleTokenError);
        expect((await store.listHosts('web')).hosts[0]?.context.attempt).toBe(2);
        expect((await store.getStatus('web'))?.observedGeneration).toBe(2);
      });

      it('a host item deleted by a newer leader cannot be written again by an older one (a write still in flight)', async () => {
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1)), token: 1 });
        await store.deleteHost({ fleet: 'web', instanceId: instanceId(1), token: 2 });
        await expect(store.putHost({ fleet: 'web', host: hostFixture(instanceId(1), { attempt: 9 }), token: 1 }))
          .rejects.toBeInstanceOf(StaleTokenError);
        expect((await store.listHosts('web')).hosts).toEqual([]);
        expect((await store.claimFleet({ fleet: 'web', token: 3 })).hosts).toEqual([]);
        // the newest leader may still write it (an instance that comes back), and deleting twice is harmless
        await store.deleteHost({ fleet: 'web', instanceId: instanceId(1), token: 3 });
        await store.putHost({ fleet: 'web', host: hostFixture(instanceId(1)), token: 3 });
        expect((await store.listHosts('web')).hosts).toHaveLength(1);
      });

      it("a claim keeps what the items hold, returns it, and fences the deposed leader's writes from then on", async () => {
        const a = (await store.acquireLease({ fleet: 'web', holder: 'A', durationMs: 1_000, nowMs: 0 }))!;
        for (let i = 1; i <= 5; i++) await store.putHost({ fleet: 'web', host: hostFixture(instanceId(i), { attempt: i }), token: a.token });
        await store.putStatus({ fleet: 'web', status: statusFixture(1), token: a.token });
        const b = (await store.acquireLease({ fleet: 'web', holder: 'B', durationMs: 1_000, nowMs: 2_000 }))!;
        const claimed = await store.claimFleet({ fleet: 'web', token: b.token });
        expect(claimed.hosts.map((h) => h.context.attempt)).toEqual([1, 2, 3, 4, 5]);
        await expect(store.putHost({ fleet: 'web', host: hostFixture(instanceId(3), { attempt: 9 }), token: a.token }))
          .rejects.toBeInstanceOf(StaleTokenError);
        await expect(store.putStatus({ fleet: 'web', status: statusFixture(9), token: a.token }))
          .rejects.toBeInstanceOf(StaleTokenError);
        expect((await store.listHosts('web')).hosts.map((h) => h.context.attempt)).toEqual([1, 2, 3, 4, 5]);
        expect((await store.getStatus('web'))?.observedGeneration).toBe(1);
        // an older leader cannot claim over a newer one
        await expect(store.claimFleet({ fleet: 'web', token: a.token })).rejects.toBeInstanceOf(StaleTokenError);
        expect((await store.claimFleet({ fleet: 'empty', token: b.token })).hosts).toEqual([]);
      });
    });

    describe('controller records', () => {
      it('lists every record, renewed in place; a delete holds only while the record was not renewed', async () => {
        await store.putController({ holder: 'b', expiresAtMs: 1_000 });
        await store.putController({ holder: 'a', expiresAtMs: 2_000 });
        await store.putController({ holder: 'b', expiresAtMs: 3_000 });
        const byHolder = (records: Array<{ holder: string; expiresAtMs: number }>) => [...records].sort((x, y) => x.holder.localeCompare(y.holder));
        expect(byHolder(await store.listControllers())).toEqual([{ holder: 'a', expiresAtMs: 2_000 }, { holder: 'b', expiresAtMs: 3_000 }]);
        // b renewed since it was read at 1,000: that delete is refused
        await store.deleteController({ holder: 'b', expiresAtMs: 1_000 });
        await store.deleteController({ holder: 'a', expiresAtMs: 2_000 });
        await store.deleteController({ holder: 'nobody', expiresAtMs: 0 });
        expect(await store.listControllers()).toEqual([{ holder: 'b', expiresAtMs: 3_000 }]);
      });
    });

    describe('history', () => {
      it('lists newest first over several pages, per fleet, with a limit', async () => {
        const times = [5, 1, 12, 3, 8, 2, 11, 7, 4, 10, 9, 6];
        for (const atMs of times) {
          await store.appendHistory('web', { type: 'deploy', atMs, actor: 'ops@bastion', message: `at ${atMs}`, revision: `r${atMs}` });
        }
        await store.appendHistory('api', { type: 'pause', atMs: 100, actor: 'ops@bastion', message: 'other fleet' });
        const all = await store.listHistory('web');
        expect(all.map((e) => e.atMs)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        expect(all[0]).toEqual({ type: 'deploy', atMs: 12, actor: 'ops@bastion', message: 'at 12', revision: 'r12' });
        expect((await store.listHistory('web', { limit: 5 })).map((e) => e.atMs)).toEqual([12, 11, 10, 9, 8]);
        expect(await store.listHistory('nothing-here')).toEqual([]);
      });

      it('keeps events of the same millisecond, the later append first', async () => {
        await store.appendHistory('web', { type: 'deploy', atMs: 50, actor: 'a', message: 'first' });
        await store.appendHistory('web', { type: 'pause', atMs: 50, actor: 'a', message: 'second', reason: 'why' });
        expect((await store.listHistory('web')).map((e) => e.message)).toEqual(['second', 'first']);
      });
    });
  });
}
