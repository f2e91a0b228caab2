/**
 * The attempt's records under store faults and crashes: a failed save of ATTEMPT_STARTED or SENT neither
 * strands the host nor throws its result away, and an attempt recorded but never sent (a crash in between)
 * is sent by the next leader at once, with one lookup for all the hosts that share it.
 */
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../controller/errors.ts';
import type { SendArgs } from '../../controller/ports/commands.ts';
import type { HostRecord } from '../../state/host.ts';
import { startSimController, type SimController } from '../support/simController.ts';

const rollout = { maxUnavailable: 4 };

async function atV1(t: SimController): Promise<number> {
  const first = await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1', { rollout }), expectedGeneration: 0, nowMs: 0 });
  await t.advance(60_000);
  return first.generation;
}

/** Syncs sent per host. */
function countSends(t: SimController): Map<string, number> {
  const perHost = new Map<string, number>();
  const send = t.commands.send.bind(t.commands);
  t.commands.send = (args: SendArgs) => {
    if (args.mode === 'sync') for (const id of args.instanceIds) perHost.set(id, (perHost.get(id) ?? 0) + 1);
    return send(args);
  };
  return perHost;
}

/** Makes the first host write that `matches` fail. */
function failOneWrite(t: SimController, matches: (host: HostRecord) => boolean): () => number {
  let failed = 0;
  const putHost = t.store.putHost.bind(t.store);
  t.store.putHost = (args) => {
    if (failed === 0 && matches(args.host)) {
      failed += 1;
      return Promise.reject(new TransientError('PutItem: connection reset (simulated)'));
    }
    return putHost(args);
  };
  return () => failed;
}

describe('attempt records under faults', () => {
  it.each([
    ['ATTEMPT_STARTED', (h: HostRecord) => h.state === 'syncing' && h.context.attemptId !== null && h.context.commandId === null],
    ['SENT', (h: HostRecord) => h.state === 'syncing' && h.context.commandId !== null],
  ] as const)('a failed save of %s loses neither the attempt nor its result', async (_what, matches) => {
    const t = startSimController({ hosts: 4, revision: 'v1', syncMs: 20_000 });
    const generation = await atV1(t);
    const failed = failOneWrite(t, matches);
    const sends = countSends(t);
    await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: generation, nowMs: t.clock.nowMs() });
    // well inside syncTimeoutSeconds (900 s): nothing waits for an attempt's deadline
    await t.advance(180_000);
    const status = await t.store.getStatus('web');
    const hosts = (await t.store.listHosts('web')).hosts;
    await t.stop();
    expect(failed()).toBe(1);
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 4, inSync: 4 } });
    expect(hosts.map((h) => h.context.attempt)).toEqual([1, 1, 1, 1]);
    expect(t.world.maxRunningPerHost).toBe(1);
    expect([...sends.values()].every((n) => n <= 2)).toBe(true);
  });

  it('an attempt recorded but never sent before a crash is sent at once by the next leader, with one lookup', async () => {
    const t = startSimController({ hosts: 4, revision: 'v1', syncMs: 20_000 });
    const generation = await atV1(t);
    await t.restart(async () => {
      // what a leader leaves when it dies between recording the attempt of 4 hosts and sending their command
      await t.store.putFleetSpec({ name: 'web', spec: t.spec('v2', { rollout }), expectedGeneration: generation, nowMs: t.clock.nowMs() });
      for (const host of (await t.store.listHosts('web')).hosts) {
        t.store.putRawHost('web', host.instanceId, {
          ...host, state: 'syncing',
          context: {
            ...host.context, desiredRevision: 'v2', targetRevision: 'v2', attempt: 1, attemptId: 'a-1-99', commandId: null,
            deadlineMs: t.clock.nowMs() + 900_000, sinceMs: t.clock.nowMs(),
          },
        });
      }
      t.world.resetCounts();
    });
    const sends = countSends(t);
    await t.advance(180_000);
    const status = await t.store.getStatus('web');
    const hosts = (await t.store.listHosts('web')).hosts;
    await t.stop();
    expect(status).toMatchObject({ revision: 'v2', hostCounts: { total: 4, inSync: 4 } });
    expect(hosts.map((h) => h.context.attempt)).toEqual([1, 1, 1, 1]);
    expect([...sends.values()]).toEqual([1, 1, 1, 1]);
    expect(t.world.calls.get('ListCommands')).toBe(1);
  });
});
