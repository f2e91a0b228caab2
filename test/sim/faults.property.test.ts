/**
 * Issue 13: the controller keeps its invariants under random fault schedules. Each schedule is a small
 * fleet (3-10 hosts, budget 1-3 or 20-50%, 5-30 s syncs) and a fault plan drawn from a seed: port faults of
 * every kind on every sim adapter, crashes, zombie leaders, several controllers, terminations, scaling,
 * offline agents, hung, slow and failing syncs, bumps, pause/resume, retries, drain and a malformed spec. The
 * invariant checker (controller/sim/invariants.ts) looks at the world at every step; a schedule passes with 0
 * violations, which includes converging within the stated bound once the faults end.
 *
 * FAULT_SCHEDULES (default 1000: 15-35 s on the 2 shared cores), FAULT_SEED and FAULT_PATH (fast-check's seed
 * and counterexample path) change the run; a failure prints the command that replays the failing seed, the
 * shrunk plan and a command replaying it, and the fast-check seed and path that replay the whole search.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { simulate, type SimulateResult } from '../../controller/sim/simulate.ts';
import { faultSchedules, replayCommand, type FaultSchedule } from '../support/faultSchedules.ts';

const RUNS = Number(process.env.FAULT_SCHEDULES ?? 1000);
const SEED = process.env.FAULT_SEED === undefined ? undefined : Number(process.env.FAULT_SEED);
const PATH = process.env.FAULT_PATH;

function run(s: FaultSchedule): Promise<SimulateResult> {
  return simulate({ hosts: s.hosts, maxUnavailable: s.maxUnavailable, syncSeconds: s.syncSeconds, faults: s.seed, faultPlan: s.plan });
}

function describeFailure(first: { schedule: FaultSchedule; result: SimulateResult } | null, shrunk: FaultSchedule | null): string {
  const lines: string[] = [];
  if (first) {
    lines.push(`first failing schedule (seed ${first.schedule.seed}): ${first.result.invariantViolations} violation(s)`);
    for (const v of first.result.violations.slice(0, 5)) lines.push(`  ${v.atMs / 1000}s ${v.invariant}: ${v.detail}`);
    lines.push(`replay: ${replayCommand(first.schedule)}`);
  }
  if (shrunk) {
    const file = join(tmpdir(), `fleetsync-fault-plan-${shrunk.seed}.json`);
    writeFileSync(file, JSON.stringify(shrunk.plan, null, 2));
    lines.push(`shrunk to: ${JSON.stringify(shrunk.plan)}`);
    lines.push(`replay the shrunk plan: ${replayCommand(shrunk).replace(/--faults \d+/, `--fault-plan ${file}`)}`);
  }
  return lines.join('\n');
}

describe('fault schedules', () => {
  it(`every invariant holds under ${RUNS} random fault schedules, and each run converges once its faults end`, async () => {
    let schedules = 0;
    let events = 0;
    let checks = 0;
    let first: { schedule: FaultSchedule; result: SimulateResult } | null = null;
    const details = await fc.check(fc.asyncProperty(faultSchedules(), async (schedule) => {
      const result = await run(schedule);
      schedules += 1;
      events += Object.values(result.faultsInjected).reduce((a, b) => a + b, 0);
      checks += result.invariantChecks;
      if (result.invariantViolations > 0 && first === null) first = { schedule, result };
      return result.invariantViolations === 0;
    }), {
      numRuns: RUNS, interruptAfterTimeLimit: 600_000,
      ...(SEED !== undefined ? { seed: SEED } : {}), ...(PATH !== undefined ? { path: PATH } : {}),
    });
    console.log(`fault schedules: ${schedules}, events injected: ${events}, invariant checks: ${checks}`);
    const message = details.failed ? describeFailure(first, details.counterexample?.[0] ?? null) : '';
    if (details.failed) {
      console.log(`${message}\nreplay this search: FAULT_SEED=${details.seed} FAULT_PATH=${details.counterexamplePath ?? ''} `
        + 'npx vitest run test/sim/faults.property.test.ts');
    }
    expect(details.failed, message).toBe(false);
    expect(details.numRuns).toBeGreaterThanOrEqual(RUNS);
    expect(events).toBeGreaterThan(RUNS);
  }, 900_000);
});
