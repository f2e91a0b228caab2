/**
 * Stepped rollouts (issue 15): each step's cumulative share of the fleet in sync before the next one starts,
 * pauses between steps that `promote` cuts short, a halt at the first step when its one host fails, and a new
 * leader that carries on at the step the last one stored.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../controller/ports/store.ts';
import { startSimController, type SimController } from '../support/simController.ts';

/** in-service hosts running `revision` */
function at(t: SimController, revision: string): number {
  return t.world.live().filter((i) => i.lifecycleState === 'InService' && i.revision === revision).length;
}

async function deploy(t: SimController, revision: string, rollout: Record<string, unknown>): Promise<void> {
  const current = await t.store.getFleet('web');
  await t.store.putFleetSpec({
    name: 'web', spec: t.spec(revision, { rollout }), expectedGeneration: current?.generation ?? 0, nowMs: t.clock.nowMs(),
  });
}

/** runs a controller with the fleet at v1 everywhere */
async function settledAtV1(hosts: number, rollout: Record<string, unknown>): Promise<SimController> {
  const t = startSimController({ hosts, revision: 'v1', syncMs: 20_000 });
  await deploy(t, 'v1', rollout);
  await t.advance(60_000);
  return t;
}

const stepEvents = (history: HistoryEvent[], revision: string): string[] => history
  .filter((e) => e.type.startsWith('step') && e.revision === revision)
  .reverse()
  .map((e) => `${e.type} ${/step (\d+\/\d+)/.exec(e.message)?.[1] ?? ''}`);

describe('stepped rollouts', () => {
  it('goes through the cumulative shares in order, each in sync before the next starts', async () => {
    const rollout = { maxUnavailable: 4, steps: [{ hosts: 1 }, { hosts: '10%' }, { hosts: '50%' }] };
    const t = await settledAtV1(20, rollout);
    const seen: number[] = [];
    await deploy(t, 'v2', rollout);
    for (let i = 0; i < 40; i++) {
      await t.advance(5_000);
      const n = at(t, 'v2');
      if (seen.at(-1) !== n) seen.push(n);
    }
    await t.advance(300_000);
    const history = await t.store.listHistory('web');
    const status = await t.store.getStatus('web');
    await t.stop();
    // 1, then 10% of 20 = 2, then 50% = 10 (4 at a time: 2 -> 6 -> 10), then the rest (4 at a time)
    expect(seen.slice(0, 4)).toEqual([0, 1, 2, 6]);
    expect(seen).toContain(10);
    expect(at(t, 'v2')).toBe(20);
    expect(stepEvents(history, 'v2')).toEqual([
      'stepStarted 1/4', 'stepFinished 1/4', 'stepStarted 2/4', 'stepFinished 2/4', 'stepStarted 3/4', 'stepFinished 3/4',
      'stepStarted 4/4',
    ]);
    expect(status?.rollout?.step).toMatchObject({ index: 3, count: 4, hosts: 20 });
    expect(status?.revision).toBe('v2');
  });
});
