/**
 * A new leader term that starts while the spec item cannot be read still keeps the launch hooks of waiting
 * instances alive, with the group and hook of the last spec this process read (found by the fault-schedule
 * suite: a frozen leader stepped down and led again with the spec unreadable, and a 57 s hook ran out).
 */
import { describe, expect, it } from 'vitest';
import type { FleetRef } from '../../controller/ports/fleet.ts';
import { startSimController } from '../support/simController.ts';

describe('launch hooks while the spec is unreadable', () => {
  it('are heartbeaten by the next leader term of the same process, from the last spec it read', async () => {
    const t = startSimController({ hosts: 1, revision: 'v1', syncMs: 600_000 });
    const hookTimeoutMs = 40_000;
    const fleet = t.fleet as typeof t.fleet & { heartbeatTimeoutMs?: (ref: FleetRef) => Promise<number | null> };
    fleet.heartbeatTimeoutMs = () => Promise.resolve(hookTimeoutMs);
    const beats: number[] = [];
    const heartbeat = t.fleet.heartbeat.bind(t.fleet);
    t.fleet.heartbeat = (args) => {
      beats.push(t.clock.nowMs());
      return heartbeat(args);
    };
    const record = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    t.world.launch(1);
    await t.advance(40_000);
    expect(beats.length).toBeGreaterThan(0);
    // the spec item is edited by hand into something unreadable, and the leader's term ends (its lease is
    // reported lost once): the same process leads again under a new token, never having read this spec
    t.store.putRawFleet('web', { name: 'web', generation: record.generation, spec: { revision: '$(reboot)' }, updatedAtMs: t.clock.nowMs() });
    const renew = t.store.renewLease.bind(t.store);
    let lost = false;
    t.store.renewLease = (args) => {
      if (!lost) {
        lost = true;
        return Promise.resolve(null);
      }
      return renew(args);
    };
    const from = t.clock.nowMs();
    await t.advance(180_000);
    const lease = await t.store.getLease('web');
    await t.stop();
    expect(lost).toBe(true);
    expect(lease?.token).toBeGreaterThan(1);
    const times = [from, ...beats.filter((b) => b >= from), from + 180_000];
    const gaps = times.slice(1).map((b, i) => b - times[i]!);
    expect(Math.max(...gaps)).toBeLessThan(hookTimeoutMs);
  });
});
