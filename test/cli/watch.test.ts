/**
 * `status --watch` against a store whose status changes between polls: the clock's sleep is where the
 * "controller" moves the rollout on, so each poll sees the next state.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../controller/ports/store.ts';
import { TransientError } from '../../controller/errors.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { watchFleet } from '../../controller/cli/watch.ts';
import type { HostRecord } from '../../state/host.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { ScriptedClock, capture, hostRecord, statusOf } from './cliHarness.ts';

/** cursor up N lines, clear to the end of the screen */
const REDRAW = new RegExp(`${String.fromCharCode(27)}\\[\\d+F${String.fromCharCode(27)}\\[J`);

const IDS = ['i-0000000000000001', 'i-0000000000000002', 'i-0000000000000003'];

const specB = parseFleetSpec({
  autoScalingGroupName: 'web-asg', source: 's3://bucket/web', destination: '/var/www/app', revision: 'rev-b',
});

/** Fleet web at generation 2 (rev-b desired); the controller's last status is still generation 1's, all at rev-a. */
async function rollout(): Promise<{ store: MemoryStore; observe(hosts: HostRecord[], options?: { halted?: boolean }): Promise<void> }> {
  const store = new MemoryStore();
  await store.putFleetSpec({ name: 'web', spec: { ...specB, revision: 'rev-a' }, expectedGeneration: 0, nowMs: 0 });
  await store.putFleetSpec({ name: 'web', spec: specB, expectedGeneration: 1, nowMs: 0 });
  const observe = async (hosts: HostRecord[], options: { halted?: boolean } = {}, generation = 2): Promise<void> => {
    for (const host of hosts) await store.putHost({ fleet: 'web', host, token: 1 });
    await store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: generation, desired: generation === 2 ? 'rev-b' : 'rev-a', hosts, ...options }) });
  };
  await observe(IDS.map((id) => hostRecord({ instanceId: id, state: 'inSync', reported: 'rev-a' })), {}, 1);
  return { store, observe };
}

const at = (revisions: Array<'a' | 'b' | 'syncing' | 'failed'>): HostRecord[] => revisions.map((r, i) => {
  const instanceId = IDS[i]!;
  if (r === 'syncing') return hostRecord({ instanceId, state: 'syncing', reported: 'rev-a', target: 'rev-b', attempt: 1 });
  if (r === 'failed') return hostRecord({ instanceId, state: 'failed', reported: 'rev-a', target: 'rev-b', attempt: 3, lastError: 'check failed' });
  return hostRecord({ instanceId, state: r === 'b' ? 'inSync' : 'queued', reported: `rev-${r === 'b' ? 'b' : 'a'}` });
});

describe('status --watch', () => {
  it('in a pipe: one line per change, nothing while nothing changes, exit 0 once every host is in sync', async () => {
    const { store, observe } = await rollout();
    const clock = new ScriptedClock([
      () => observe(at(['syncing', 'a', 'a'])),
      () => observe(at(['b', 'syncing', 'a'])),
      async () => undefined, // a poll that sees no change
      () => observe(at(['b', 'b', 'syncing'])),
      () => observe(at(['b', 'b', 'b'])),
    ]);
    const out = capture();
    const code = await watchFleet({ store, name: 'web', clock, intervalMs: 2_000, out, json: false });
    expect(code).toBe(0);
    expect(clock.sleeps).toEqual([2_000, 2_000, 2_000, 2_000, 2_000]);
    const lines = out.text.trim().split('\n');
    // the first poll still shows generation 1's status: it must not count as finished
    expect(lines[0]).toContain('desired rev-b (generation 2, observed 1)');
    const summaries = lines.filter((l) => l.includes(' desired rev-b '));
    expect(summaries).toHaveLength(5); // the first view and four changes; the quiet poll adds nothing
    expect(summaries[4]).toContain('3/3 at it');
    expect(lines.filter((l) => l.includes('i-0000000000000003 '))).toEqual([
      expect.stringContaining('i-0000000000000003 inSync revision rev-a'),
      expect.stringContaining('i-0000000000000003 queued revision rev-a'),
      expect.stringContaining('i-0000000000000003 syncing revision rev-a target rev-b attempt 1'),
      expect.stringContaining('i-0000000000000003 inSync revision rev-b'),
    ]);
    expect(lines.at(-1)).toContain('fleet web: rollout finished, all 3 host(s) at rev-b');
  });

  it('with --output json: one Fleet document per change, then the result', async () => {
    const { store, observe } = await rollout();
    const clock = new ScriptedClock([() => observe(at(['b', 'syncing', 'a'])), async () => undefined, () => observe(at(['b', 'b', 'b']))]);
    const out = capture();
    expect(await watchFleet({ store, name: 'web', clock, intervalMs: 1_000, out, json: true })).toBe(0);
    const lines = out.text.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; status?: { observedGeneration: number; hostCounts: { inSync: number } } });
    expect(lines.map((l) => l.kind)).toEqual(['Fleet', 'Fleet', 'Fleet', 'WatchResult']);
    expect(lines.slice(0, 3).map((l) => [l.status?.observedGeneration, l.status?.hostCounts.inSync])).toEqual([[1, 3], [2, 1], [2, 3]]);
    expect(lines[3]).toMatchObject({ kind: 'WatchResult', result: 'finished', exitCode: 0 });
  });

  it('exits 1 when the rollout halts', async () => {
    const { store, observe } = await rollout();
    const clock = new ScriptedClock([() => observe(at(['b', 'syncing', 'a'])), () => observe(at(['b', 'a', 'a']), { halted: true })]);
    const out = capture();
    expect(await watchFleet({ store, name: 'web', clock, intervalMs: 1_000, out, json: false })).toBe(1);
    expect(out.text.trim().split('\n').at(-1)).toContain('fleet web: rollout of rev-b halted (MaxFailuresReached');
  });

  it('exits 1 when a host fails, naming it, its reason and what to do', async () => {
    const { store, observe } = await rollout();
    const clock = new ScriptedClock([() => observe(at(['b', 'failed', 'syncing']))]);
    const out = capture();
    expect(await watchFleet({ store, name: 'web', clock, intervalMs: 1_000, out, json: true })).toBe(1);
    const result = JSON.parse(out.text.trim().split('\n').at(-1)!) as { result: string; message: string };
    expect(result.result).toBe('failed');
    expect(result.message).toContain('i-0000000000000002: check failed');
    expect(result.message).toContain('fleetsync retry web i-0000000000000002');
  });

  it('a halt or failure in the status of an older generation does not end the watch of the new one', async () => {
    const { store, observe } = await rollout();
    // the controller last saw generation 1 with a failed host and a halt; generation 2 is the fix
    const failedBefore = [hostRecord({ instanceId: IDS[0]!, state: 'failed', reported: 'rev-a', target: 'rev-x', attempt: 3, lastError: 'bad' })];
    await store.putHost({ fleet: 'web', host: failedBefore[0]!, token: 1 });
    await store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 1, desired: 'rev-x', hosts: failedBefore, halted: true }) });
    const clock = new ScriptedClock([() => observe(at(['syncing', 'a', 'a'])), () => observe(at(['b', 'b', 'b']))]);
    const out = capture();
    expect(await watchFleet({ store, name: 'web', clock, intervalMs: 1_000, out, json: false })).toBe(0);
    expect(clock.sleeps).toHaveLength(2);
  });

  it('in a terminal: redraws one frame with a progress bar, the conditions and the host table', async () => {
    const { store, observe } = await rollout();
    const clock = new ScriptedClock([() => observe(at(['b', 'syncing', 'a'])), () => observe(at(['b', 'b', 'b']))]);
    const out = capture({ isTTY: true, columns: 100 });
    expect(await watchFleet({ store, name: 'web', clock, intervalMs: 2_000, out, json: false })).toBe(0);
    const frames = out.text.split(REDRAW);
    expect(frames).toHaveLength(3); // drawn once, then redrawn in place twice
    expect(frames[1]).toContain('[##########--------------------] 1/3 hosts at the desired revision (33%)');
    expect(frames[1]).toMatch(/Ready\s+False\s+RolloutInProgress: 1\/3 hosts at rev-b/);
    expect(frames[1]).toMatch(/INSTANCE\s+STATE\s+REVISION\s+TARGET\s+ATTEMPT\s+AGE/);
    expect(frames[1]).toMatch(/i-0000000000000002\s+syncing\s+rev-a\s+rev-b\s+1\s/);
    expect(frames[2]).toContain('3/3 hosts at the desired revision (100%)');
    expect(frames[2]).toContain('rollout finished');
    for (const line of out.text.split('\n')) expect(line.replace(REDRAW, '').length).toBeLessThan(100);
  });

  it('stops on Ctrl-C (the signal) with exit 130', async () => {
    const { store } = await rollout();
    const interrupt = new AbortController();
    const clock = new ScriptedClock([async () => undefined, async () => interrupt.abort(new Error('interrupted'))]);
    expect(await watchFleet({ store, name: 'web', clock, intervalMs: 1_000, out: capture(), json: false, signal: interrupt.signal })).toBe(130);
  });

  it('a failed read is reported and retried on the next poll', async () => {
    const { store, observe } = await rollout();
    let failNext = false;
    const flaky: Store = Object.assign(Object.create(store) as Store, {
      getFleet: async (name: string) => {
        if (failNext) {
          failNext = false;
          throw new TransientError('DynamoDB answered 500');
        }
        return store.getFleet(name);
      },
    });
    const clock = new ScriptedClock([async () => { failNext = true; }, () => observe(at(['b', 'b', 'b']))]);
    const out = capture();
    expect(await watchFleet({ store: flaky, name: 'web', clock, intervalMs: 1_000, out, json: false })).toBe(0);
    expect(out.text).toContain('web: cannot read the status (DynamoDB answered 500); trying again');
  });

  it('a fleet that does not exist is an error at once', async () => {
    const { store } = await rollout();
    await expect(watchFleet({ store, name: 'api', clock: new ScriptedClock([]), intervalMs: 1_000, out: capture(), json: false }))
      .rejects.toThrow(/there is no fleet named api/);
  });
});
