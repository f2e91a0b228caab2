/**
 * Stepped rollouts (issue 15): each step's cumulative share of the fleet in sync before the next one starts,
 * pauses between steps that `promote` cuts short, a halt at the first step when its one host fails, and a new
 * leader that carries on at the step the last one stored.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../controller/ports/store.ts';
import type { InvocationResult } from '../../controller/ports/commands.ts';
import { startSimController, type SimController } from '../support/simController.ts';
import { simulate } from '../../controller/sim/simulate.ts';
import { run } from '../cli/cliHarness.ts';

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

  it('stops at step 1 when its one host fails: halted, the rest of the fleet untouched', async () => {
    const rollout = { maxUnavailable: 5, maxFailures: 1, maxAttempts: 2, steps: [{ hosts: 1 }, { hosts: '50%' }] };
    const t = await settledAtV1(10, rollout);
    t.sim.failRate = 1;
    const sentBefore = t.commands.syncsSent;
    await deploy(t, 'v2', rollout);
    await t.advance(900_000);
    const status = await t.store.getStatus('web');
    const history = await t.store.listHistory('web');
    await t.stop();
    // one host tried (twice: maxAttempts 2), and no other host was sent a sync
    expect(t.commands.syncsSent - sentBefore).toBe(2);
    expect(status?.hostCounts).toMatchObject({ total: 10, failed: 1, queued: 9, syncing: 0 });
    // the failed sync left its host at v1 too
    expect(at(t, 'v1')).toBe(10);
    expect(status?.rollout?.step).toMatchObject({ index: 0, count: 3, hosts: 1 });
    expect(status?.rollout?.haltedAtMs).toBeTypeOf('number');
    expect(status?.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'RolloutHalted' });
    expect(stepEvents(history, 'v2')).toEqual(['stepStarted 1/3']);
    expect(history.some((e) => e.type === 'halted' && e.revision === 'v2')).toBe(true);
  });

  it('a failure under maxFailures settles its step and the rollout goes on; reaching maxFailures halts before the next step', async () => {
    const rollout = { maxUnavailable: 3, maxFailures: 2, maxAttempts: 1, steps: [{ hosts: 3 }, { hosts: 6 }] };
    const t = await settledAtV1(10, rollout);
    // the first host (in the order hosts are granted) fails every sync
    const failing = new Set([[...t.hosts].sort()[0]!]);
    const results = t.commands.results.bind(t.commands);
    t.commands.results = async (commandId: string): Promise<InvocationResult[]> => (await results(commandId)).map((r) => (
      failing.has(r.instanceId) && r.status === 'success' ? { instanceId: r.instanceId, status: 'failed', exitCode: 3, error: 'sync failed (simulated)' } : r));
    await deploy(t, 'v2', rollout);
    await t.advance(600_000);
    const oneFailed = { status: await t.store.getStatus('web') };
    // a second failing host, in the next rollout's first step: maxFailures 2 is reached there
    failing.add([...t.hosts].sort()[1]!);
    await deploy(t, 'v3', rollout);
    await t.advance(600_000);
    const status = await t.store.getStatus('web');
    const history = await t.store.listHistory('web');
    await t.stop();
    expect(oneFailed.status?.hostCounts).toMatchObject({ total: 10, inSync: 9, failed: 1 });
    expect(oneFailed.status?.rollout?.step).toMatchObject({ index: 2, count: 3 });
    expect(stepEvents(history, 'v2')).toEqual(['stepStarted 1/3', 'stepFinished 1/3', 'stepStarted 2/3', 'stepFinished 2/3', 'stepStarted 3/3']);
    expect(history.filter((e) => e.type === 'stepFinished' && e.revision === 'v2').at(-1)?.message)
      .toContain('step 1/3 of the rollout of v2 done: 2 in-service host(s) in sync at v2, 1 failed (under maxFailures)');
    // v3 (a new revision takes the failed host back): step 1 is the two failing hosts and a third, which syncs;
    // the two failures halt the rollout there, and no host past step 1 is touched
    expect(status?.hostCounts).toMatchObject({ total: 10, failed: 2, inSync: 1, queued: 7, syncing: 0 });
    expect(status?.rollout?.step).toMatchObject({ index: 0 });
    expect(status?.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'MaxFailuresReached' });
    expect(stepEvents(history, 'v3')).toEqual(['stepStarted 1/3']);
  });

  it('pauses after a step until pauseSeconds have passed', async () => {
    const rollout = { maxUnavailable: 10, steps: [{ hosts: 2, pauseSeconds: 300 }] };
    const t = await settledAtV1(10, rollout);
    await deploy(t, 'v2', rollout);
    await t.advance(60_000);
    const duringPause = at(t, 'v2');
    const pausedStatus = await t.store.getStatus('web');
    const paused = pausedStatus?.rollout?.step;
    await t.advance(200_000);
    const laterInPause = at(t, 'v2');
    // the pause started once step 1 was in sync (about 25 s in) and lasts 300 s
    await t.advance(120_000);
    const history = await t.store.listHistory('web');
    await t.stop();
    expect(duringPause).toBe(2);
    expect(paused).toMatchObject({ index: 0, hosts: 2 });
    expect(paused?.pauseUntilMs).toBe(paused!.doneAtMs! + 300_000);
    expect(pausedStatus?.conditions.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'False', reason: 'StepPaused',
      message: `2/10 hosts at v2; paused after step 1/2 (2 hosts) until ${new Date(paused!.pauseUntilMs!).toISOString()} (fleetsync promote goes on now)`,
    });
    expect(laterInPause).toBe(2);
    expect(at(t, 'v2')).toBe(10);
    expect(stepEvents(history, 'v2')).toEqual(['stepStarted 1/2', 'stepFinished 1/2', 'stepPaused 1/2', 'stepStarted 2/2']);
  });

  it('a promote cuts the pause short: the next step starts at once', async () => {
    const rollout = { maxUnavailable: 10, steps: [{ hosts: 2, pauseSeconds: 3_600 }, { hosts: '50%', pauseSeconds: 3_600 }] };
    const t = await settledAtV1(10, rollout);
    await deploy(t, 'v2', rollout);
    await t.advance(60_000);
    const beforePromote = at(t, 'v2');
    const startedAtMs = (await t.store.getStatus('web'))!.rollout!.startedAtMs;
    // a promote asked for another rollout of v2 (an earlier one) does not promote this one
    await deploy(t, 'v2', { ...rollout, promote: { revision: 'v2', step: 1, rolloutStartedAtMs: startedAtMs - 1 } });
    await t.advance(60_000);
    const staleIgnored = at(t, 'v2');
    await deploy(t, 'v2', { ...rollout, promote: { revision: 'v2', step: 1, rolloutStartedAtMs: startedAtMs } });
    await t.advance(60_000);
    const afterPromote = at(t, 'v2');
    const step = (await t.store.getStatus('web'))?.rollout?.step;
    const history = await t.store.listHistory('web');
    await t.stop();
    expect(beforePromote).toBe(2);
    expect(staleIgnored).toBe(2);
    // step 2 (50%) ran, and its own pause holds: the promote was for step 1 only
    expect(afterPromote).toBe(5);
    expect(step).toMatchObject({ index: 1, hosts: 5 });
    expect(step?.pauseUntilMs).toBeTypeOf('number');
    expect(stepEvents(history, 'v2')).toEqual([
      'stepStarted 1/3', 'stepFinished 1/3', 'stepPaused 1/3', 'stepPromoted 1/3', 'stepStarted 2/3', 'stepFinished 2/3', 'stepPaused 2/3',
    ]);
  });

  it('a new leader mid-rollout continues at the step the last one stored', async () => {
    const rollout = { maxUnavailable: 2, steps: [{ hosts: 1 }, { hosts: '60%', pauseSeconds: 600 }] };
    const t = await settledAtV1(10, rollout);
    await deploy(t, 'v2', rollout);
    // step 1 (1 host, 20 s) is done; step 2 runs 2 at a time towards 6
    await t.advance(45_000);
    const before = (await t.store.getStatus('web'))?.rollout?.step;
    const atV2Before = at(t, 'v2');
    await t.restart();
    await t.advance(120_000);
    const resumed = (await t.store.getStatus('web'))?.rollout?.step;
    const inPause = at(t, 'v2');
    await t.advance(700_000);
    const history = await t.store.listHistory('web');
    await t.stop();
    expect(before).toMatchObject({ index: 1, hosts: 6 });
    expect(atV2Before).toBeGreaterThanOrEqual(1);
    expect(atV2Before).toBeLessThan(6);
    // the same step, started when the first leader started it, now in its pause
    expect(resumed).toMatchObject({ index: 1, hosts: 6, startedAtMs: before!.startedAtMs });
    expect(resumed?.pauseUntilMs).toBeTypeOf('number');
    expect(inPause).toBe(6);
    expect(at(t, 'v2')).toBe(10);
    // nothing recorded twice by the second leader
    expect(stepEvents(history, 'v2')).toEqual([
      'stepStarted 1/3', 'stepFinished 1/3', 'stepStarted 2/3', 'stepFinished 2/3', 'stepPaused 2/3', 'stepStarted 3/3',
    ]);
  });
});

describe('simulate --steps', () => {
  it('400 hosts in steps 1,10%,50%,100% converge within 5% of their own lower bound, steps in order', async () => {
    const r = await simulate({ hosts: 400, maxUnavailable: '25%', syncSeconds: 60, steps: [{ hosts: 1 }, { hosts: '10%' }, { hosts: '50%' }, { hosts: '100%' }] });
    expect(r.converged).toBe(true);
    // 1 host: 1 wave; 39 more: 1; 160 more: 2 (100 at a time); 200 more: 2; 6 waves of 60 s
    expect(r.lowerBoundSeconds).toBe(360);
    expect(r.convergedSeconds!).toBeGreaterThanOrEqual(360);
    expect(r.convergedSeconds!).toBeLessThanOrEqual(1.05 * 360);
    expect(r.steps?.map((s) => s.hosts)).toEqual([1, 40, 200, 400]);
    const finished = r.steps!.slice(0, 3).map((s) => s.finishedSeconds!);
    const started = r.steps!.map((s) => s.startedSeconds!);
    // each step starts when the one before is done
    expect(started.slice(1)).toEqual(finished);
    expect(r.maxUnavailableObserved).toBeLessThanOrEqual(100);
    expect(r.violations).toEqual([]);
  });

  it('takes the pauses it is given in virtual time, and gives the same JSON for the same seed', async () => {
    const options = { hosts: 40, syncSeconds: 30, steps: [{ hosts: 1, pauseSeconds: 300 }, { hosts: '50%' }], failRate: 0.05, maxFailures: 10, seed: 4 };
    const a = await simulate(options);
    expect(a.converged).toBe(true);
    expect(a.steps![1]!.startedSeconds! - a.steps![0]!.finishedSeconds!).toBe(300);
    expect(a.convergedSeconds!).toBeGreaterThanOrEqual(a.lowerBoundSeconds);
    expect(JSON.stringify(await simulate(options))).toBe(JSON.stringify(a));
  });

  it('refuses steps that are not cumulative, saying how to write them, with exit 2', async () => {
    const r = await run(['simulate', '--steps', '1,50%,10%']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('steps[2].hosts 10% is less than the step before (50%): shares are cumulative');
    expect(r.stderr).toContain('like 1,10%:300,50%');
  });
});
