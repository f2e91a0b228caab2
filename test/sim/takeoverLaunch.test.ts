/**
 * A new leader lets a launching host into service only at the revision meant for it now (F11, F12 of the
 * fault-schedule suite): hosts restored from the store resume only once this leader has read the spec and
 * observed the group, so a host restored with an older desired revision is not completed at it.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import { startSimController } from '../support/simController.ts';

describe('a takeover while a launching host syncs', () => {
  it.each([
    ['its command sent', (h: { state: string; context: { attemptId: string | null; commandId: string | null } }) => h.state === 'syncing' && h.context.commandId !== null],
    // stopped as soon as it is syncing: the stop comes between recording its attempt and sending the command
    ['its attempt recorded but not sent', (h: { state: string; context: { attemptId: string | null; commandId: string | null } }) => h.state === 'syncing'],
  ] as const)('with %s, completes the host at the revision desired now, even when the new leader\'s first passes fail', async (_what, stoppedWhen) => {
    const t = startSimController({ hosts: 2, revision: 'v1', syncMs: 20_000 });
    const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 });
    await t.advance(60_000);
    const [launched] = t.world.launch(1);
    const item = async () => (await t.store.listHosts('web')).hosts.find((h) => h.instanceId === launched);
    const stopNow = async (): Promise<boolean> => {
      const host = await item();
      return host !== undefined && stoppedWhen(host);
    };
    for (let waited = 0; waited < 60_000 && !(await stopNow()); waited += 100) await t.advance(100);
    expect(await stopNow()).toBe(true);
    await t.restart(async () => {
      await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2'), expectedGeneration: first.generation, nowMs: t.clock.nowMs() });
      // the new leader's first reads of the spec fail (a throttled store)
      const getFleet = t.store.getFleet.bind(t.store);
      let failed = 0;
      t.store.getFleet = (name) => (failed++ < 3 ? Promise.reject(new TransientError('GetItem: throttled (simulated)')) : getFleet(name));
    });
    const attemptErrors: string[] = [];
    const putHost = t.store.putHost.bind(t.store);
    t.store.putHost = (args) => {
      if (args.host.context.lastError) attemptErrors.push(args.host.context.lastError);
      return putHost(args);
    };
    await t.advance(600_000);
    const completions = t.world.completions.filter((c) => c.instanceId === launched);
    const status = await t.store.getStatus('web');
    await t.stop();
    expect(completions.map((c) => [c.result, c.revision])).toEqual([['CONTINUE', 'v2']]);
    // no effect ran before the new leader had read the spec (it would fail on the missing spec)
    expect(attemptErrors.filter((e) => e.includes('Cannot read properties'))).toEqual([]);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 3, inSync: 3 } });
  });
});
