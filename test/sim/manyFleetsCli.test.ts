/**
 * `fleetsync simulate --fleets N --controllers N` (issue 15) as a user runs it: the JSON on stdout replays byte
 * for byte, the CPU per controller goes to stderr only, and flags for one fleet are refused with the fix.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function simulate(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(root, 'bin/fleetsync.js'), 'simulate', ...args], {
    cwd: root, encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('simulate --fleets --controllers', () => {
  it('prints the same JSON for a seed twice, with the CPU per controller on stderr only', () => {
    const flags = ['--fleets', '6', '--hosts', '8', '--controllers', '3', '--sync-seconds', '20', '--kill-controller-at', '30', '--seed', '4'];
    const a = simulate(...flags);
    const b = simulate(...flags);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const result = JSON.parse(a.stdout) as { converged: boolean; leasesPerController: Record<string, number>; kill: { takeoverSeconds: number } };
    expect(result.converged).toBe(true);
    expect(Object.keys(result.leasesPerController).sort()).toEqual(['sim-controller-2', 'sim-controller-3']);
    expect(a.stdout).not.toMatch(/cpu|ms\/min/i);
    for (const controller of ['sim-controller-1', 'sim-controller-2', 'sim-controller-3']) {
      expect(a.stderr).toMatch(new RegExp(`${controller}: [\\d.]+ ms/min`));
    }
  });

  it('refuses a flag that simulates one fleet on one controller, and says what to drop', () => {
    const r = simulate('--fleets', '3', '--crash-at', '10');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--crash-at: only for one fleet on one controller; drop it, or drop --fleets/);
    const alone = simulate('--fleets', '3', '--kill-controller-at', '10');
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/--kill-controller-at needs --controllers 2 or more/);
  });
});
