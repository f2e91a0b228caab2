/**
 * A stepped rollout's pause stops progress on purpose: SecondsSinceProgress (the stall alarm's metric) stays 0
 * through it, and counts from its end once the next step runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FLEET, startSimController, type SimController } from './simController.ts';

let controller: SimController | null = null;
afterEach(async () => {
  await controller?.stop();
  controller = null;
});

async function secondsSinceProgress(c: SimController): Promise<number | undefined> {
  const start = c.lines.length;
  await c.emf!.publish();
  const line = c.lines.slice(start).find((l) => l.fleet === FLEET);
  return line?.SecondsSinceProgress as number | undefined;
}

describe('a step pause and the stall metric', () => {
  it('is not a stall, nor is the pause counted once the next step runs', async () => {
    controller = await startSimController({
      hosts: 4, syncSeconds: 60, emf: true, rollout: { maxUnavailable: 1, steps: [{ hosts: 1, pauseSeconds: 600 }] },
    });
    const c = controller;
    await c.deploy('rev-1');
    // the first host syncs (60 s), then the pause runs for 600 s
    await c.advance(400_000);
    expect((await c.memory.getStatus(FLEET))?.conditions.find((x) => x.type === 'Progressing')?.reason).toBe('StepPaused');
    expect(await secondsSinceProgress(c)).toBe(0);
    await c.advance(300_000);
    expect((await c.memory.getStatus(FLEET))?.rollout?.step?.index).toBe(1);
    const after = (await secondsSinceProgress(c))!;
    expect(after).toBeGreaterThanOrEqual(0);
    expect(after).toBeLessThan(60);
  });
});
