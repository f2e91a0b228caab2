/**
 * A leader paused past its renew deadline (a zombie) acts no more when it wakes: its overdue timers still fire,
 * but no command, history event or spec write goes out once the lease it last renewed may have expired.
 */
import { describe, expect, it } from 'vitest';
import type { SendArgs } from '../../controller/ports/commands.ts';
import { startSimController } from '../support/simController.ts';

describe('a leader that wakes up past its renew deadline', () => {
  it('sends nothing and writes no history while its renewal is overdue', async () => {
    const t = startSimController({ hosts: 6, revision: 'v1', syncMs: 3_000 });
    const rollout = { maxUnavailable: 1 };
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    let paused = false;
    const late: string[] = [];
    const send = t.commands.send.bind(t.commands);
    // Acts under the paused lease are late; once that lease has run out, the process may take the fleet again
    // under a new token, and act as the new leader it then is.
    const oldToken = (await t.store.getLease('web'))!.token;
    const underOldLease = async (): Promise<boolean> => paused && (await t.store.getLease('web'))?.token === oldToken;
    t.commands.send = async (args: SendArgs) => {
      if (paused && args.attemptId.startsWith(`${args.mode === 'sync' ? 'a' : 'p'}-${oldToken}-`)) late.push(`send ${args.mode} ${args.attemptId}`);
      return send(args);
    };
    const append = t.store.appendHistory.bind(t.store);
    t.store.appendHistory = async (fleet, event) => {
      if (await underOldLease()) late.push(`history ${event.type}`);
      return append(fleet, event);
    };
    // the store stops answering renewals: the lease cannot be extended
    const renew = t.store.renewLease.bind(t.store);
    let answer = (): void => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    t.store.renewLease = async (args) => {
      if (paused) await answered;
      return renew(args);
    };
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
    await t.advance(6_000);
    expect(t.commands.syncsSent).toBeGreaterThan(0);
    paused = true;
    t.pause(20_000);
    await t.advance(30_000);
    paused = false;
    answer();
    await t.stop();
    expect(late).toEqual([]);
  });
});
