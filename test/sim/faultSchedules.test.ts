/** The fault-schedule arbitrary (issue 13): seed-replayable schedules, and shrinking to a minimal plan. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { faultSchedules, replayCommand, scheduleFromSeed } from '../support/faultSchedules.ts';

describe('fault schedules', () => {
  it('every generated schedule is the plan its seed and shape draw, so the printed command replays it', () => {
    fc.assert(fc.property(faultSchedules(), (s) => {
      const again = scheduleFromSeed({ hosts: s.hosts, maxUnavailable: s.maxUnavailable, syncSeconds: s.syncSeconds, seed: s.seed });
      expect(again.plan).toEqual(s.plan);
      expect(replayCommand(s)).toBe(`node bin/fleetsync.js simulate --hosts ${s.hosts} --max-unavailable ${s.maxUnavailable} `
        + `--sync-seconds ${s.syncSeconds} --faults ${s.seed} --output text`);
    }), { numRuns: 200 });
  });

  it('a failure shrinks to the one event that causes it, with nothing else left', () => {
    // Stands for a defect that any zombie leader triggers: the smallest failing plan is one zombie and no more.
    const details = fc.check(fc.property(faultSchedules(), (s) => !s.plan.events.some((e) => e.kind === 'zombie')), {
      numRuns: 500, seed: 42,
    });
    expect(details.failed).toBe(true);
    const [shrunk] = details.counterexample!;
    expect(shrunk.shrunk).toBe(true);
    expect(shrunk.plan.events.map((e) => e.kind)).toEqual(['zombie']);
    expect(shrunk.plan.portFaults).toEqual({});
    expect(shrunk.plan.controllers).toBe(1);
    expect(shrunk.plan.drain).toBe(false);
    expect(shrunk.hosts).toBe(2);
  });
});
