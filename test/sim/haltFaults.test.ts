/**
 * Halts under faults: a transient store error while the halt is being recorded does not cancel the auto
 * rollback, and a halt holds until a new generation even once the launching host that caused it is gone.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import type { InvocationResult } from '../../controller/ports/commands.ts';
import { startSimController } from '../support/simController.ts';

describe('halts under faults', () => {
  it('a store error while recording the halt still ends in the auto rollback', async () => {
    const t = startSimController({ hosts: 8, revision: 'v1' });
    const rollout = { maxUnavailable: 2, maxFailures: 2, maxAttempts: 1, autoRollback: true };
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(120_000);
    const append = t.store.appendHistory.bind(t.store);
    let refused = 0;
    t.store.appendHistory = (fleet, event) => {
      if (event.type === 'halted' && refused === 0) {
        refused += 1;
        return Promise.reject(new TransientError('PutItem: connection reset (simulated)'));
      }
      return append(fleet, event);
    };
    t.sim.failRate = 1;
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(900_000);
    t.sim.failRate = 0;
    await t.advance(300_000);
    const fleet = await t.store.getFleet('web');
    const history = await t.store.listHistory('web');
    const status = await t.store.getStatus('web');
    await t.stop();
    expect(refused).toBe(1);
    expect(fleet?.spec.revision).toBe('v1');
    expect(history.filter((e) => e.type === 'halted')).toHaveLength(1);
    expect(history.filter((e) => e.type === 'autoRollback')).toHaveLength(1);
    expect(status).toMatchObject({ revision: 'v1', hostCounts: { total: 8, inSync: 8 } });
  });

  it('a halt caused by a launching host holds after the group terminates it, until a new generation', async () => {
    const t = startSimController({ hosts: 6, revision: 'v1', syncMs: 20_000 });
    const rollout = { maxUnavailable: 1, maxFailures: 1, maxAttempts: 1 };
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    // the new instance's sync fails; the in-service ones succeed
    const [launched] = t.world.launch(1);
    const results = t.commands.results.bind(t.commands);
    t.commands.results = async (commandId: string): Promise<InvocationResult[]> => (await results(commandId)).map((r) => (
      r.instanceId === launched && r.status === 'success' ? { instanceId: r.instanceId, status: 'failed', exitCode: 3, error: 'sync failed (simulated)' } : r));
    const second = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(600_000);
    const abandoned = t.world.completions.filter((c) => c.instanceId === launched).map((c) => c.result);
    const atV2WhileHalted = t.world.live().filter((i) => i.revision === 'v2').length;
    const status = await t.store.getStatus('web');

    // a new generation (the operator resumes with a retry of nothing, or any edit) lifts the halt
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout, keepReleases: 4 }), expectedGeneration: second.generation, nowMs: t.clock.nowMs() });
    await t.advance(600_000);
    const after = t.world.live().filter((i) => i.revision === 'v2').length;
    await t.stop();

    expect(abandoned).toEqual(['ABANDON']);
    // only the in-service host synced alongside the failing one; no new in-service sync after the halt
    expect(atV2WhileHalted).toBeLessThanOrEqual(1);
    expect(status?.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'MaxFailuresReached' });
    expect(after).toBe(6);
  });
});
