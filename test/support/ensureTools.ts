/**
 * Runs first in `npm test`: makes sure the system tools of test/support/testTools.ts are on PATH, installing
 * the missing ones when it can (root with apt-get or dnf), else stopping at once (exit 1) with the command to
 * run. Silent when nothing is missing.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  TEST_TOOLS, installFailed, planTools, type PackageManager, type TestTool,
} from './testTools.ts';

/** The command's path when an executable file of that name is in one of PATH's folders. */
export function onPath(command: string, searchPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function missingTools(): TestTool[] {
  return TEST_TOOLS.filter((t) => onPath(t.tool) === undefined);
}

function packageManager(): PackageManager | undefined {
  if (onPath('apt-get') !== undefined) return 'apt-get';
  if (onPath('dnf') !== undefined) return 'dnf';
  return undefined;
}

/** Exit code: 0 when every tool is there (maybe after installing), 1 otherwise. */
export function ensureTools(): number {
  const missing = missingTools();
  const plan = planTools({ missing, isRoot: process.getuid?.() === 0, manager: packageManager() });
  if (plan.kind === 'ready') return 0;
  process.stderr.write(`ensureTools: ${plan.message}\n`);
  if (plan.kind === 'stop') return 1;
  for (const argv of plan.commands) {
    // the manager's output goes to stderr: stdout stays the test report's
    const run = spawnSync(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (run.status !== 0) {
      const how = run.error ? run.error.message : run.signal ? `signal ${run.signal}` : `exit ${run.status}`;
      process.stderr.write(`ensureTools: ${installFailed({ plan, failed: `${argv.join(' ')} (${how})`, stillMissing: missingTools() })}\n`);
      return 1;
    }
  }
  const stillMissing = missingTools();
  if (stillMissing.length > 0) {
    process.stderr.write(`ensureTools: ${installFailed({ plan, stillMissing })}\n`);
    return 1;
  }
  process.stderr.write(`ensureTools: installed ${plan.packages.join(' ')}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = ensureTools();
