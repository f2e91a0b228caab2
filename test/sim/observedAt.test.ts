/**
 * status.observedAt: the leader confirms the status at least once per resync even when nothing changes, so a
 * reader can tell a quiet fleet (observedAt recent) from a dead controller (observedAt old).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { startSimController } from '../support/simController.ts';

describe('status.observedAt', () => {
  it('is refreshed at least every resync on a quiet fleet, and stops once the controller is gone', async () => {
    const t = startSimController({ hosts: 3, revision: 'v1' });
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(120_000);
    const ages: number[] = [];
    for (let i = 0; i < 10; i++) {
      await t.advance(30_000);
      const status = await t.store.getStatus('web');
      ages.push(t.clock.nowMs() - Date.parse(status!.observedAt!));
    }
    await t.stop();
    const lastSeen = Date.parse((await t.store.getStatus('web'))!.observedAt!);
    await t.advance(600_000);
    expect(Math.max(...ages)).toBeLessThanOrEqual(DEFAULT_SETTINGS.resyncMs + DEFAULT_SETTINGS.statusDebounceMs);
    expect(Date.parse((await t.store.getStatus('web'))!.observedAt!)).toBe(lastSeen);
  });
});
