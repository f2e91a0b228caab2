/** Stepped rollouts, the pure part (issue 15): shares, the step now, what it allows, and the spec's checks. */
import { describe, expect, it } from 'vitest';
import { planSteps, parseStepsText, resolveStepHosts, stepTargets, type StepHost, type StepInput } from '../../state/steps.ts';
import { ValidationError, parseFleetSpec } from '../../state/validate.ts';
import type { HostState } from '../../state/host.ts';

const spec = (rollout: Record<string, unknown>): unknown => ({
  autoScalingGroupName: 'asg', source: 's3://bucket/app', destination: '/srv/app', revision: 'v2', rollout,
});

function problems(rollout: Record<string, unknown>): string[] {
  try {
    parseFleetSpec(spec(rollout));
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems;
  }
  return [];
}

function host(state: HostState, revision: string | null, more: Partial<StepHost> = {}): StepHost {
  return {
    state, launching: false, reportedRevision: revision, targetRevision: state === 'syncing' ? 'v2' : revision,
    failedRevision: state === 'failed' ? 'v2' : null, granted: false, ...more,
  };
}

/** n hosts: `inSync` of them at v2, `syncing` on their way, the rest queued at v1 */
function fleet(n: number, counts: { inSync?: number; syncing?: number; failed?: number } = {}): StepHost[] {
  const hosts: StepHost[] = [];
  for (let i = 0; i < (counts.inSync ?? 0); i++) hosts.push(host('inSync', 'v2'));
  for (let i = 0; i < (counts.syncing ?? 0); i++) hosts.push(host('syncing', 'v1'));
  for (let i = 0; i < (counts.failed ?? 0); i++) hosts.push(host('failed', 'v1'));
  while (hosts.length < n) hosts.push(host('queued', 'v1'));
  return hosts;
}

const base = (over: Partial<StepInput>): StepInput => ({
  steps: [{ hosts: 1 }, { hosts: '10%', pauseSeconds: 300 }, { hosts: '50%' }],
  inServiceAtStart: 400, record: undefined, desiredRevision: 'v2', hosts: fleet(400), nowMs: 1_000, hold: false, ...over,
});

describe('shares', () => {
  it('are cumulative over the in-service hosts at the start; a percent rounds up; the rest of the fleet is the last step', () => {
    expect(stepTargets([{ hosts: 1 }, { hosts: '10%' }, { hosts: '50%' }], 400)).toEqual([1, 40, 200, 400]);
    expect(stepTargets([{ hosts: 1 }, { hosts: '10%' }, { hosts: '50%' }, { hosts: '100%' }], 400)).toEqual([1, 40, 200, 400]);
    expect(stepTargets([{ hosts: '10%' }], 5)).toEqual([1, 5]);
    expect(stepTargets([{ hosts: '12.5%' }], 400)).toEqual([50, 400]);
    // a count past the fleet is the whole fleet; a mix never goes down
    expect(stepTargets([{ hosts: 50 }, { hosts: '10%' }], 20)).toEqual([20, 20]);
    expect(stepTargets([{ hosts: 5 }, { hosts: '10%' }], 20)).toEqual([5, 5, 20]);
    expect(resolveStepHosts('0.5%', 10)).toBe(1);
    expect(stepTargets([{ hosts: 1 }], 0)).toEqual([0]);
  });
});

describe('the step now', () => {
  it('starts at step 1, which allows its one host and no more', () => {
    const plan = planSteps(base({}));
    expect(plan.record).toEqual({ index: 0, count: 4, hosts: 1, startedAtMs: 1_000 });
    expect(plan.allowance).toBe(1);
    expect(plan.events).toEqual([{ type: 'stepStarted', index: 0, count: 4, hosts: 1 }]);
  });

  it('counts hosts on their way and granted ones against the step', () => {
    const record = { index: 2, count: 4, hosts: 200, startedAtMs: 0 };
    const hosts = fleet(400, { inSync: 40, syncing: 100 });
    hosts[300] = { ...hosts[300]!, granted: true };
    expect(planSteps(base({ record, hosts })).allowance).toBe(59);
  });

  it('ends a step once its hosts are in sync, then pauses; no host is allowed during the pause', () => {
    const record = { index: 1, count: 4, hosts: 40, startedAtMs: 0 };
    const still = planSteps(base({ record, hosts: fleet(400, { inSync: 39, syncing: 1 }), nowMs: 50_000 }));
    expect(still.record).toEqual(record);
    expect(still.allowance).toBe(0);
    const done = planSteps(base({ record, hosts: fleet(400, { inSync: 40 }), nowMs: 60_000 }));
    expect(done.record).toEqual({ ...record, doneAtMs: 60_000, pauseUntilMs: 360_000 });
    expect(done.allowance).toBe(0);
    expect(done.wakeAtMs).toBe(360_000);
    expect(done.events).toEqual([
      { type: 'stepFinished', index: 1, count: 4, hosts: 40, failed: 0, durationMs: 60_000 },
      { type: 'stepPaused', index: 1, count: 4, untilMs: 360_000 },
    ]);
    const over = planSteps(base({ record: done.record, hosts: fleet(400, { inSync: 40 }), nowMs: 360_000 }));
    expect(over.record).toEqual({ index: 2, count: 4, hosts: 200, startedAtMs: 360_000 });
    expect(over.allowance).toBe(160);
  });

  it('a promote of this revision and step ends the pause; one for another step or revision does not', () => {
    const record = { index: 1, count: 4, hosts: 40, startedAtMs: 0, doneAtMs: 10, pauseUntilMs: 300_010 };
    const hosts = fleet(400, { inSync: 40 });
    expect(planSteps(base({ record, hosts, promote: { revision: 'v2', step: 2 } })).record.index).toBe(2);
    expect(planSteps(base({ record, hosts, promote: { revision: 'v2', step: 1 } })).record.index).toBe(1);
    expect(planSteps(base({ record, hosts, promote: { revision: 'v1', step: 2 } })).record.index).toBe(1);
  });

  it('holds (halted or paused by the operator): no step ends', () => {
    const record = { index: 0, count: 4, hosts: 1, startedAtMs: 0 };
    const plan = planSteps(base({ record, hosts: fleet(400, { inSync: 1 }), hold: true }));
    expect(plan.record).toEqual(record);
    expect(plan.events).toEqual([]);
  });

  it('the last step is every in-service host, launching ones aside', () => {
    const record = { index: 3, count: 4, hosts: 400, startedAtMs: 0 };
    const hosts = [...fleet(400, { inSync: 200 }), host('queued', null, { launching: true })];
    expect(planSteps(base({ record, hosts })).allowance).toBe(200);
  });

  it('a failed host settles its step (maxFailures decides on the halt)', () => {
    const record = { index: 0, count: 4, hosts: 1, startedAtMs: 0 };
    const plan = planSteps(base({ record, hosts: fleet(400, { failed: 1 }), nowMs: 5 }));
    expect(plan.events[0]).toMatchObject({ type: 'stepFinished', failed: 1, hosts: 1 });
  });
});

describe('rollout.steps in the spec', () => {
  it('accepts counts, percents and pauses, and no steps at all', () => {
    expect(parseFleetSpec(spec({ steps: [{ hosts: 1 }, { hosts: '10%', pauseSeconds: 300 }, { hosts: '50%' }] }))).toBeDefined();
    expect(parseFleetSpec(spec({})).rollout.steps).toBeUndefined();
  });

  it.each([
    [{ steps: [] }, 'rollout.steps must be a non-empty list'],
    [{ steps: [{ hosts: 0 }] }, 'spec.rollout.steps[0].hosts must be a whole number of hosts from 1'],
    [{ steps: [{ hosts: 1.5 }] }, 'steps[0].hosts must be a whole number'],
    [{ steps: [{ hosts: '0%' }] }, 'or a percent above 0% up to 100%'],
    [{ steps: [{ hosts: '101%' }] }, 'got "101%"'],
    [{ steps: [{ hosts: 'ten' }] }, 'got "ten"'],
    [{ steps: [{ hosts: '50%' }, { hosts: '10%' }] }, 'steps[1].hosts 10% is less than the step before (50%): shares are cumulative'],
    [{ steps: [{ hosts: 5 }, { hosts: 2 }] }, 'steps[1].hosts 2 is fewer than the step before (5)'],
    [{ steps: [{ hosts: 1, pauseSeconds: -1 }] }, 'steps[0].pauseSeconds must be a whole number of seconds from 0'],
    [{ steps: [{ hosts: 1, pauseSeconds: 2.5 }] }, 'pauseSeconds must be a whole number'],
    [{ steps: [{ hosts: 1, pause: 30 }] }, 'steps[0].pause is not a known field (known: hosts, pauseSeconds)'],
    [{ steps: [1] }, 'steps[0] must be an object like { hosts: "10%", pauseSeconds: 300 }'],
    [{ promote: { step: 1 } }, 'rollout.promote must be { revision: REVISION, step: N }'],
  ])('rejects %j, saying what is wrong', (rollout, message) => {
    expect(problems(rollout).join('\n')).toContain(message);
  });
});

describe('--steps text', () => {
  it('reads hosts and pauses', () => {
    expect(parseStepsText('1,10%:300,50%')).toEqual([{ hosts: 1 }, { hosts: '10%', pauseSeconds: 300 }, { hosts: '50%' }]);
    expect(() => parseStepsText('1,,5')).toThrow('step 2 "" is not HOSTS or HOSTS:PAUSE_SECONDS');
    expect(() => parseStepsText('1:5m,50%')).toThrow('step 1 "1:5m": the pause after the colon must be whole seconds (like 10%:300)');
  });
});
