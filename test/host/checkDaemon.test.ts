/**
 * A check that leaves a process running (say it starts a daemon) must not hold the command open: the script's
 * stdout carries only the result line and must close when the script ends, or SSM would wait for the daemon.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, requireTools, runScript, syncArgs, writeTree } from '../support/hostScript.ts';

let tmp: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  requireTools('bash', 'flock');
  tmp = await makeTempDir('check-daemon');
});
afterAll(async () => {
  await tmp.remove();
});

describe('a check that leaves a process behind', () => {
  it('does not keep the script\'s output open, and the result comes at once', async () => {
    const src = join(tmp.path, 'src');
    await mkdir(src, { recursive: true });
    await writeTree(join(src, 'r1'), { 'index.html': 'r1\n' });
    const check = join(tmp.path, 'starts-a-daemon');
    // the "daemon" lives 20 s; it inherits every descriptor the check has
    await writeFile(check, '#!/bin/sh\nsleep 20 &\nexit 0\n');
    await chmod(check, 0o755);
    const started = Date.now();
    const run = await runScript(syncArgs({ source: `file://${src}`, revision: 'r1', destination: join(tmp.path, 'dest'), check }));
    expect(run.code).toBe(0);
    expect(run.result).toMatchObject({ status: 'synced', revision: 'r1' });
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
