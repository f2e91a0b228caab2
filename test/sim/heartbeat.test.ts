/**
 * Lifecycle heartbeats follow the hook's own HeartbeatTimeout (which the stack allows from 30 s): a launching
 * host is heartbeaten as soon as it is seen and then well inside that timeout, so a long sync never lets
 * the hook time out into ABANDON.
 */
import { describe, expect, it } from 'vitest';
import type { FleetRef } from '../../controller/ports/fleet.ts';
import { startSimController } from '../support/simController.ts';

describe('lifecycle heartbeats', () => {
  it('start at first sight and come well inside a 30 s hook timeout while a 200 s sync runs', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 200_000 });
    const hookTimeoutMs = 30_000;
    const fleet = t.fleet as typeof t.fleet & { heartbeatTimeoutMs?: (ref: FleetRef) => Promise<number | null> };
    fleet.heartbeatTimeoutMs = () => Promise.resolve(hookTimeoutMs);
    const beats: number[] = [];
    const heartbeat = t.fleet.heartbeat.bind(t.fleet);
    t.fleet.heartbeat = (args) => {
      beats.push(t.clock.nowMs());
      return heartbeat(args);
    };
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const [launched] = t.world.launch(1);
    const launchedAt = t.clock.nowMs();
    let seenAt: number | null = null;
    const list = t.fleet.list.bind(t.fleet);
    t.fleet.list = async (ref) => {
      const out = await list(ref);
      if (seenAt === null && out.some((i) => i.instanceId === launched)) seenAt = t.clock.nowMs();
      return out;
    };
    await t.advance(600_000);
    const completion = t.world.completions.find((c) => c.instanceId === launched);
    await t.stop();

    expect(completion).toMatchObject({ result: 'CONTINUE', revision: 'v2' });
    expect(seenAt).not.toBeNull();
    expect(launchedAt).toBeLessThanOrEqual(seenAt!);
    // the first heartbeat comes with the first sight, then at most a third of the timeout apart until CONTINUE
    expect(beats[0]! - seenAt!).toBeLessThan(1_000);
    const times = [...beats.filter((b) => b <= completion!.atMs), completion!.atMs];
    const gaps = times.slice(1).map((b, i) => b - times[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(hookTimeoutMs / 3);
  });
});
