/** The real entry point, as an operator runs it: node bin/fleetsync.js. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function fleetsync(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(root, 'bin/fleetsync.js'), ...args], {
    cwd: root, encoding: 'utf8', timeout: 20_000,
    // no table and no controller: nothing here may reach a store
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FLEETSYNC_HOME: path.join(root, 'test/cli/no-such-home') },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bin/fleetsync.js', () => {
  it('--help exits 0 and lists every command', () => {
    const result = fleetsync('--help');
    expect(result.status).toBe(0);
    for (const command of ['init', 'fleet', 'deploy', 'status', 'rollback', 'pause', 'resume', 'history', 'retry', 'simulate', 'controller']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });

  it('an unknown flag exits 2 and says what was wrong and where to look', () => {
    const result = fleetsync('deploy', 'web', 'rev-1', '--bogus');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("unknown option '--bogus'");
    expect(result.stderr).toContain('--help');
  });

  it('a bad revision exits 2; no controller running exits 1', () => {
    expect(fleetsync('deploy', 'web', 'rev/../x').status).toBe(2);
    const none = fleetsync('status');
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no controller is running in');
  });
});
