/** The dashboard's routes without a browser: what is served for which path, and polls sharing store reads. */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { SHARED_ANSWER_MS, createDashboard, loadAssets } from '../../controller/dashboard.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { hostRecord } from '../cli/cliHarness.ts';

async function setUp(): Promise<{ store: MemoryStore; now: { ms: number }; dashboard: ReturnType<typeof createDashboard> }> {
  const store = new MemoryStore();
  const spec = parseFleetSpec({ autoScalingGroupName: 'web', source: 's3://bucket/app', destination: '/srv/app', revision: 'r1' });
  await store.putFleetSpec({ name: 'web', spec, expectedGeneration: 0, nowMs: 1 });
  await store.putHost({ fleet: 'web', host: hostRecord({ instanceId: 'i-0000000000000001', state: 'inSync', reported: 'r1' }), token: 1 });
  const now = { ms: 1_000_000 };
  const dashboard = createDashboard({ store, assets: await loadAssets(), cliPrefix: 'fleetsync', nowMs: () => now.ms });
  return { store, now, dashboard };
}

describe('the dashboard routes', () => {
  it('serves the page for / and /fleets/<name>, web/ files by name, and nothing else', async () => {
    const { dashboard } = await setUp();
    for (const path of ['/', '/fleets/web']) expect((await dashboard.answer(path))?.kind, path).toBe('asset');
    const script = await dashboard.answer('/assets/app.js');
    expect(script?.kind === 'asset' && script.asset.type).toBe('text/javascript; charset=utf-8');
    for (const path of ['/assets/../package.json', '/assets/', '/assets/index.ts']) {
      expect(await dashboard.answer(path), path).toMatchObject({ kind: 'json', code: 404 });
    }
    expect(await dashboard.answer('/api/fleets/Web%20x')).toMatchObject({ kind: 'json', code: 400 });
    expect(await dashboard.answer('/api/fleets/nope')).toMatchObject({ kind: 'json', code: 404, body: { error: 'no fleet nope' } });
    expect(await dashboard.answer('/elsewhere')).toBeNull();
  });

  it('one fleet: its hosts as rows with their bucket, and the CLI prefix to show', async () => {
    const { dashboard } = await setUp();
    const answer = await dashboard.answer('/api/fleets/web');
    expect(answer).toMatchObject({
      kind: 'json', code: 200,
      body: { cli: 'fleetsync', fleet: { name: 'web', desired: 'r1', atDesired: 1, hosts: [['i-0000000000000001', 'inSync', 'InService', 'inSync', 'r1', null, 0, null, 1_700_000_000_000]] } },
    });
  });

  it('polls within SHARED_ANSWER_MS share one read of the store', async () => {
    const { store, now, dashboard } = await setUp();
    const before = store.reads;
    await dashboard.answer('/api/fleets/web');
    const perAnswer = store.reads - before;
    expect(perAnswer).toBeGreaterThan(0);
    await Promise.all(Array.from({ length: 10 }, () => dashboard.answer('/api/fleets/web')));
    now.ms += SHARED_ANSWER_MS - 1;
    await dashboard.answer('/api/fleets/web');
    expect(store.reads - before).toBe(perAnswer);
    now.ms += 1;
    await dashboard.answer('/api/fleets/web');
    expect(store.reads - before).toBe(2 * perAnswer);
  });
});
