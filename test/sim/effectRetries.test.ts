/**
 * Effects that fail are carried out again with backoff: a host is never left in `draining` or `restoring`
 * (holding a slot) because one call to the load balancer failed, and a launching host that failed is still
 * abandoned when recording its failure in history did not work the first time.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import { startSimController, type SimController } from '../support/simController.ts';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef';
const fields = { targetGroupArns: [TG], rollout: { maxUnavailable: 3, drain: true } };

/** Makes the next `times` calls of `t.traffic[method]` fail. */
function failNext(t: SimController, method: 'deregister' | 'register' | 'health', times: number): () => number {
  let left = times;
  const traffic = t.traffic as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const real = traffic[method]!.bind(t.traffic);
  traffic[method] = (...args: unknown[]) => (left-- > 0
    ? Promise.reject(new TransientError(`${method}: connection reset (simulated)`))
    : real(...args));
  return () => times - Math.max(0, left);
}

async function drainRollout(method: 'deregister' | 'register' | 'health') {
  const t = startSimController({ hosts: 6, revision: 'v1', syncMs: 20_000 });
  const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', fields), expectedGeneration: 0, nowMs: 0 });
  await t.advance(60_000);
  const failed = failNext(t, method, 2);
  await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', fields), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
  await t.advance(900_000);
  const result = {
    failed: failed(), status: await t.store.getStatus('web'), hosts: (await t.store.listHosts('web')).hosts,
    health: await t.traffic.health([TG]), revisions: t.world.live().map((i) => i.revision),
  };
  await t.stop();
  return result;
}

describe('effects that fail are retried', () => {
  it.each(['deregister', 'register', 'health'] as const)('a failed %s call is made again and the rollout completes', async (method) => {
    const r = await drainRollout(method);
    expect(r.failed).toBe(2);
    expect(r.hosts.map((h) => h.state)).toEqual(Array(6).fill('inSync'));
    expect(r.status).toMatchObject({ revision: 'v2', hostCounts: { total: 6, inSync: 6 } });
    expect([...r.health.values()]).toEqual(Array(6).fill('healthy'));
    expect(r.revisions).toEqual(Array(6).fill('v2'));
  });

  it('a launching host that failed is abandoned even when its failure could not be written to history', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 10_000 });
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout: { maxAttempts: 1 } }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const append = t.store.appendHistory.bind(t.store);
    let refused = 0;
    t.store.appendHistory = (fleet, event) => {
      if (event.type === 'hostFailed' && refused < 1) {
        refused += 1;
        return Promise.reject(new TransientError('PutItem: connection reset (simulated)'));
      }
      return append(fleet, event);
    };
    t.sim.failRate = 1;
    const [launched] = t.world.launch(1);
    await t.advance(600_000);
    const completions = t.world.completions.filter((c) => c.instanceId === launched);
    await t.stop();
    expect(refused).toBe(1);
    expect(completions.map((c) => c.result)).toEqual(['ABANDON']);
  });
});
