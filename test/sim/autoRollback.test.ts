/**
 * maxFailures halts a rollout; with autoRollback the leader sets the desired revision back to the last one the
 * whole fleet reached, records why, and the fleet comes back to it.
 */
import { describe, expect, it } from 'vitest';
import { startSimController } from '../support/simController.ts';

async function rollout(autoRollback: boolean) {
  const t = startSimController({ hosts: 8, revision: 'v1' });
  const rollout = { maxUnavailable: 2, maxFailures: 2, maxAttempts: 1, autoRollback };
  const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
  await t.advance(120_000);
  expect((await t.store.getStatus('web'))?.revision).toBe('v1');

  t.sim.failRate = 1; // every sync to v2 fails
  await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
  await t.advance(900_000);
  const result = {
    fleet: await t.store.getFleet('web'), status: await t.store.getStatus('web'), history: await t.store.listHistory('web'),
    revisions: t.world.live().map((i) => i.revision),
  };
  await t.stop();
  return result;
}

describe('a rollout whose hosts fail', () => {
  it('halts at maxFailures: no further in-service host is touched, condition Degraded', async () => {
    const r = await rollout(false);
    expect(r.fleet?.spec.revision).toBe('v2');
    expect(r.status?.hostCounts.failed).toBe(2);
    expect(r.status?.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'MaxFailuresReached' });
    expect(r.history.filter((e) => e.type === 'halted')).toHaveLength(1);
    expect(r.history.some((e) => e.type === 'autoRollback')).toBe(false);
    // the first wave (maxUnavailable 2) failed; the other 6 hosts were never synced
    expect(r.revisions.every((rev) => rev === 'v1')).toBe(true);
  });

  it('with autoRollback, goes back to the last revision the whole fleet reached and records why', async () => {
    const r = await rollout(true);
    expect(r.fleet?.spec.revision).toBe('v1');
    const rollback = r.history.find((e) => e.type === 'autoRollback');
    expect(rollback).toMatchObject({ actor: 'controller', revision: 'v1' });
    expect(rollback?.reason).toMatch(/2 host\(s\) failed at v2 \(maxFailures 2\)/);
    expect(r.status).toMatchObject({ revision: 'v1', lastAttemptedRevision: 'v1' });
    expect(r.status?.hostCounts).toMatchObject({ total: 8, inSync: 8, failed: 0 });
    expect(r.status?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  });
});
