/** `fleetsync simulate --faults SEED` (issue 13): a fault plan from a seed, replayed byte for byte. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function simulate(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(root, 'bin/fleetsync.js'), 'simulate', ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface FaultRun {
  invariantViolations: number;
  invariantChecks: number;
  faultsInjected: Record<string, number>;
  faultPlan: { stopAtMs: number; events: unknown[] };
  lowerBoundSeconds: number;
  converged: boolean;
}

describe('simulate --faults', () => {
  it('the same seed replays byte-identically; another seed draws another plan', () => {
    const flags = ['--hosts', '20', '--max-unavailable', '5', '--sync-seconds', '20', '--faults'];
    const a = simulate(...flags, '11');
    const b = simulate(...flags, '11');
    const c = simulate(...flags, '12');
    expect(a.stderr).toBe('');
    expect(a.stdout.length).toBeGreaterThan(0);
    expect(b.stdout).toBe(a.stdout);
    expect(b.status).toBe(a.status);
    expect(c.stdout).not.toBe(a.stdout);

    const run = JSON.parse(a.stdout) as FaultRun;
    expect(typeof run.invariantViolations).toBe('number');
    expect(run.invariantChecks).toBeGreaterThan(0);
    const injected = Object.values(run.faultsInjected).reduce((x, y) => x + y, 0);
    expect(injected).toBeGreaterThan(0);
    // Faults stop within the first half of the rollout's lower bound.
    expect(run.faultPlan.stopAtMs).toBeLessThanOrEqual(run.lowerBoundSeconds * 500);
    // The exit code says whether the promise held: converged with no violation.
    expect(a.status).toBe(run.converged && run.invariantViolations === 0 ? 0 : 1);
  });

  it('--fault-plan replays a plan from a file, the same as the seed it came from', () => {
    const flags = ['--hosts', '8', '--max-unavailable', '2', '--sync-seconds', '10'];
    const seeded = simulate(...flags, '--faults', '5');
    const plan = (JSON.parse(seeded.stdout) as FaultRun).faultPlan;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'fleetsync-plan-')), 'plan.json');
    writeFileSync(file, JSON.stringify(plan));
    const fromFile = JSON.parse(simulate(...flags, '--fault-plan', file).stdout) as FaultRun & { settings: unknown };
    const fromSeed = JSON.parse(seeded.stdout) as FaultRun & { settings: unknown };
    expect({ ...fromFile, settings: null }).toEqual({ ...fromSeed, settings: null });
  });

  it('refuses a file that is not a fault plan, saying what a plan needs', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'fleetsync-plan-')), 'plan.json');
    writeFileSync(file, '{"events": 3}');
    const result = simulate('--fault-plan', file);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('not a fault plan');
    expect(result.stderr).toContain('stopAtMs');
  });
});
