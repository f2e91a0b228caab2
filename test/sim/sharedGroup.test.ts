/**
 * Two fleets that name one Auto Scaling group (a hand edit, or a CLI older than the check in `fleet apply`):
 * the controller acts on neither, and says why on both statuses, rather than sync the same hosts twice.
 */
import { describe, expect, it } from 'vitest';
import { startSimController } from '../support/simController.ts';

describe('two fleets on one group', () => {
  it('are both refused, with the problem on their status, until one names another group', async () => {
    const t = startSimController({ hosts: 3, revision: 'v1', syncMs: 10_000 });
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2'), expectedGeneration: 0, nowMs: 0 });
    const api = await t.store.putFleetSpec({ name: 'api', spec: t.spec('v3'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(300_000);
    const syncsWhileShared = t.commands.syncsSent;
    const web = await t.store.getStatus('web');
    const apiStatus = await t.store.getStatus('api');

    await t.store.putFleetSpec({ name: 'api', spec: t.spec('v3', { autoScalingGroupName: 'api-asg' }), expectedGeneration: api.generation, nowMs: t.clock.nowMs() });
    await t.advance(300_000);
    const after = await t.store.getStatus('web');
    await t.stop();

    expect(syncsWhileShared).toBe(0);
    expect(web?.errors?.join(' ')).toMatch(/group asg is also named by fleet api/);
    expect(apiStatus?.errors?.join(' ')).toMatch(/group asg is also named by fleet web/);
    expect(after).toMatchObject({ revision: 'v2', hostCounts: { total: 3, inSync: 3 } });
    expect(after?.errors).toBeUndefined();
  });
});
