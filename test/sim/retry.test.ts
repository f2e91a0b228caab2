/** `fleetsync retry FLEET INSTANCE` writes a request in the spec; the leader tries that failed host again. */
import { describe, expect, it } from 'vitest';
import { startSimController } from '../support/simController.ts';

describe('retry', () => {
  it('brings a quarantined host back into the rollout once per request', async () => {
    const t = startSimController({ hosts: 1, revision: 'v1', syncMs: 10_000, failRate: 1 });
    const host = t.hosts[0]!;
    const spec = (retries: Record<string, string>, extra: Record<string, unknown> = {}) =>
      t.spec('v2', { retries, rollout: { maxAttempts: 2 }, ...extra });
    let record = await t.store.putFleetSpec({ name: 'web', spec: spec({}), expectedGeneration: 0, nowMs: 0 });
    await t.advance(600_000);
    expect((await t.store.listHosts('web')).hosts[0]).toMatchObject({ state: 'failed', context: { attempt: 2, reportedRevision: 'v1' } });
    expect(t.commands.syncsSent).toBe(2);

    // the cause is fixed; the operator asks for a retry
    t.sim.failRate = 0;
    record = await t.store.putFleetSpec({ name: 'web', spec: spec({ [host]: 'req-1' }), expectedGeneration: record.generation, nowMs: t.clock.nowMs() });
    await t.advance(120_000);
    expect((await t.store.listHosts('web')).hosts[0]).toMatchObject({ state: 'inSync', context: { reportedRevision: 'v2' } });
    expect(t.commands.syncsSent).toBe(3);

    // the same request seen again (another spec change) does not retry anything more
    await t.store.putFleetSpec({ name: 'web', spec: spec({ [host]: 'req-1' }, { keepReleases: 3 }), expectedGeneration: record.generation, nowMs: t.clock.nowMs() });
    await t.advance(120_000);
    expect(t.commands.syncsSent).toBe(3);
    await t.stop();
  });
});
