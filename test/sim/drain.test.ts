/** rollout.drain: an in-service host leaves its target groups before its sync and comes back after it. */
import { describe, expect, it } from 'vitest';
import { startSimController } from '../support/simController.ts';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef';

describe('drain', () => {
  it('deregisters at most maxUnavailable hosts at once, syncs them, and registers every one again', async () => {
    const t = startSimController({ hosts: 9, revision: 'v1', syncMs: 20_000 });
    const fields = { targetGroupArns: [TG], rollout: { maxUnavailable: 3, drain: true } };
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', fields), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    expect(t.world.calls.get('DeregisterTargets') ?? 0).toBe(0);

    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', fields), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(600_000);
    const status = await t.store.getStatus('web');
    const health = await t.traffic.health([TG]);
    await t.stop();

    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 9, inSync: 9 } });
    expect(t.world.calls.get('DeregisterTargets')).toBe(9);
    expect(t.world.calls.get('RegisterTargets')).toBe(9);
    expect(t.traffic.maxDeregistered).toBeLessThanOrEqual(3);
    expect(t.traffic.maxDeregistered).toBeGreaterThan(0);
    expect([...health.values()]).toEqual(Array(9).fill('healthy'));
  });
});
