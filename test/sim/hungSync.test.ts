/**
 * A sync that hangs on its host outlives syncTimeoutSeconds: its command is cancelled (found by F1 of the
 * fault-schedule suite: the cancel had lost the command id), the host counts as out of service until the
 * cancel is done, and the retry is not answered busy for ever.
 */
import { describe, expect, it } from 'vitest';
import type { SendArgs } from '../../controller/ports/commands.ts';
import { startSimController } from '../support/simController.ts';

describe('a hung sync', () => {
  it('is cancelled at its deadline, holds its slot until then, and the host is synced by the next attempt', async () => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 20_000 });
    const rollout = { maxUnavailable: 1, syncTimeoutSeconds: 60 };
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const send = t.commands.send.bind(t.commands);
    let hung = 0;
    t.commands.send = async (args: SendArgs) => {
      if (args.mode !== 'sync' || hung > 0) return send(args);
      hung += 1;
      t.sim.syncMs = 100_000_000;
      try {
        return await send(args);
      } finally {
        t.sim.syncMs = 20_000;
      }
    };
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(900_000);
    const status = await t.store.getStatus('web');
    const cancels = t.world.calls.get('CancelCommand') ?? 0;
    await t.stop();
    expect(hung).toBe(1);
    expect(cancels).toBeGreaterThanOrEqual(1);
    expect(t.world.maxInServiceBusy).toBe(1);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 2, inSync: 2 } });
  });
});
