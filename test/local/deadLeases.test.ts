/**
 * A controller restarted on the embedded default after `kill -9` takes the dead one's fleets at once instead of
 * waiting out its lease, and never frees a lease whose holder may still act.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../controller/log.ts';
import { holderName, holderPidOn } from '../../controller/holderName.ts';
import { releaseDeadLeases } from '../../controller/local/deadLeases.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { parseFleetSpec } from '../../state/validate.ts';

const HOST = 'build-7';
const DEAD_PID = 4_000_001;
const spec = parseFleetSpec({ autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision: 'v1' });

async function storeWithLeases(holders: Record<string, string>): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (const [fleet, holder] of Object.entries(holders)) {
    await store.putFleetSpec({ name: fleet, spec, expectedGeneration: 0, nowMs: 0 });
    expect(await store.acquireLease({ fleet, holder, durationMs: 60_000, nowMs: 1_000 })).not.toBeNull();
  }
  return store;
}

describe('holder names', () => {
  it('carry the hostname and pid, read back only for this hostname', () => {
    const name = holderName({ hostname: HOST, pid: 4242, nonce: 'a1b2c3d4' });
    expect(name).toBe('build-7-4242-a1b2c3d4');
    expect(holderPidOn(name, HOST)).toBe(4242);
    expect(holderPidOn(name, 'build')).toBeNull(); // "build" is a prefix of the real host: not this machine
    expect(holderPidOn('ip-10-0-0-1-17-a1b2c3d4', HOST)).toBeNull();
    expect(holderPidOn(`${HOST}-someone`, HOST)).toBeNull();
  });
});

describe('releaseDeadLeases', () => {
  it('releases the live lease of a dead process of this machine, so the next acquire succeeds at once', async () => {
    const dead = holderName({ hostname: HOST, pid: DEAD_PID, nonce: '0badf00d' });
    const store = await storeWithLeases({ demo: dead });
    const alive = (pid: number): boolean => pid !== DEAD_PID;
    expect(await store.acquireLease({ fleet: 'demo', holder: 'new', durationMs: 60_000, nowMs: 2_000 })).toBeNull();

    await store.putController({ holder: dead, expiresAtMs: 61_000 });
    await store.putController({ holder: holderName({ hostname: HOST, pid: process.pid, nonce: 'aaaaaaaa' }), expiresAtMs: 61_000 });

    expect(await releaseDeadLeases({ store, hostname: HOST, pidAlive: alive, nowMs: 2_000, log: silentLogger })).toEqual(['demo']);
    // the fair share no longer counts the dead controller
    expect((await store.listControllers()).map((c) => c.holder)).toEqual([holderName({ hostname: HOST, pid: process.pid, nonce: 'aaaaaaaa' })]);
    const taken = await store.acquireLease({ fleet: 'demo', holder: 'new', durationMs: 60_000, nowMs: 2_000 });
    expect(taken?.holder).toBe('new');
    expect(taken?.token).toBe(2); // a bigger token than the dead holder's: its writes stay fenced
  });

  it('leaves a live holder, a holder of another machine and a hand-named holder alone', async () => {
    const store = await storeWithLeases({
      live: holderName({ hostname: HOST, pid: process.pid, nonce: 'aaaaaaaa' }),
      remote: holderName({ hostname: 'ip-10-0-0-9', pid: DEAD_PID, nonce: 'bbbbbbbb' }),
      odd: 'operator-by-hand',
    });
    const alive = (pid: number): boolean => pid === process.pid;
    expect(await releaseDeadLeases({ store, hostname: HOST, pidAlive: alive, nowMs: 2_000, log: silentLogger })).toEqual([]);
    for (const fleet of ['live', 'remote', 'odd']) {
      expect((await store.getLease(fleet))?.expiresAtMs, fleet).toBe(61_000);
    }
  });

  it('does not touch a lease taken by someone else after it was read (the release is conditional on the token)', async () => {
    const dead = holderName({ hostname: HOST, pid: DEAD_PID, nonce: '0badf00d' });
    const store = await storeWithLeases({ demo: dead });
    const read = await store.getLease('demo');
    // someone took it over after expiry between our read and our release
    const other = await store.acquireLease({ fleet: 'demo', holder: 'other', durationMs: 60_000, nowMs: 70_000 });
    await store.releaseLease(read!);
    expect((await store.getLease('demo'))?.holder).toBe(other?.holder);
  });
});
