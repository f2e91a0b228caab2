/**
 * A malformed item in the table (written by hand) is reported on that fleet's status and in the log; the
 * other fleets go on (issue 3, item 5).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../controller/log.ts';
import { startSimController } from '../support/simController.ts';

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const t = startSimController({ hosts: 6, revision: 'v1', syncMs: 10_000, log: createLogger({ level: 'info', destination }) });
  return { ...t, lines };
}

describe('malformed items', () => {
  it('a hand-written bad spec is logged and skipped while the other fleet converges', async () => {
    const t = setup();
    await t.store.putFleetSpec({ name: 'good', spec: t.spec('v2'), expectedGeneration: 0, nowMs: 0 });
    t.store.putRawFleet('broken', { name: 'broken', generation: 1, spec: { revision: '$(rm -rf /)' }, updatedAtMs: 0 });
    await t.clock.run({ untilMs: 300_000, done: () => t.world.live().every((i) => i.revision === 'v2') });
    expect(t.world.live().map((i) => i.revision)).toEqual(Array(6).fill('v2'));
    const logged = t.lines.find((l) => String(l.key).includes('broken'));
    expect(logged?.msg).toMatch(/malformed fleet item/);
    expect(String(logged?.problem)).toMatch(/revision/);
    await t.stop();
  });

  it('a bad host item and a spec broken by hand are reported on that fleet status; no new attempts start', async () => {
    const t = setup();
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    t.store.putRawHost('web', 'i-0000000000000beef', { instanceId: 'i-0000000000000beef', state: 'flying' });
    await t.clock.run({ untilMs: 120_000, done: () => false });
    const status = await t.store.getStatus('web');
    expect(status?.errors?.join('\n')).toMatch(/i-0000000000000beef/);
    expect(status?.hostCounts.inSync).toBe(6);

    // Now the spec itself is edited by hand into something unreadable, with a new revision in it.
    t.store.putRawFleet('web', { name: 'web', generation: 2, spec: { ...t.spec('v2'), strategy: 'teleport' }, updatedAtMs: 0 });
    await t.clock.run({ untilMs: t.clock.nowMs() + 120_000, done: () => false });
    const after = await t.store.getStatus('web');
    expect(after?.errors?.join('\n')).toMatch(/spec item: .*strategy/);
    expect(t.world.live().every((i) => i.revision === 'v1')).toBe(true);
    expect(t.lines.some((l) => /fleet spec cannot be read/.test(String(l.msg)))).toBe(true);
    await t.stop();
  });
});
