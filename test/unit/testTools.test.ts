/**
 * What `npm test` does first about missing system tools (test/support/ensureTools.ts): the decision for every
 * kind of machine, without installing anything, and the script itself on PATHs that hold the tools or not.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_TOOLS, installFailed, planTools, type TestTool } from '../support/testTools.ts';

const tool = (name: string): TestTool => {
  const found = TEST_TOOLS.find((t) => t.tool === name);
  if (!found) throw new Error(`no ${name} in TEST_TOOLS`);
  return found;
};
const aws = tool('aws');
const shellcheck = tool('shellcheck');

describe('planTools', () => {
  it('does nothing when every tool is there, whoever runs it', () => {
    expect(planTools({ missing: [], isRoot: false, manager: undefined })).toEqual({ kind: 'ready' });
    expect(planTools({ missing: [], isRoot: true, manager: 'apt-get' })).toEqual({ kind: 'ready' });
  });

  it('as root with apt-get: updates the lists, then installs the Debian packages of the missing tools only', () => {
    const plan = planTools({ missing: [aws, shellcheck], isRoot: true, manager: 'apt-get' });
    expect(plan).toMatchObject({
      kind: 'install', manager: 'apt-get', packages: ['awscli', 'shellcheck'],
      commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', '--no-install-recommends', 'awscli', 'shellcheck']],
    });
    expect(planTools({ missing: [shellcheck], isRoot: true, manager: 'apt-get' }))
      .toMatchObject({ packages: ['shellcheck'], commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', '--no-install-recommends', 'shellcheck']] });
  });

  it('says what it installs and why before it does', () => {
    const plan = planTools({ missing: [aws], isRoot: true, manager: 'apt-get' });
    expect(plan.kind === 'install' && plan.message).toBe(`the tests need aws, not found on PATH (aws: ${aws.why}). Running as root,`
      + ' so installing them now: apt-get update && apt-get install -y --no-install-recommends awscli');
  });

  it('as root with dnf: one dnf install of the files the tools are, whatever each distribution names the package', () => {
    expect(planTools({ missing: [aws, shellcheck], isRoot: true, manager: 'dnf' })).toMatchObject({
      kind: 'install', manager: 'dnf', commands: [['dnf', 'install', '-y', '/usr/bin/aws', '/usr/bin/shellcheck']],
    });
  });

  it('not root: stops with the one command to run, with sudo', () => {
    const apt = planTools({ missing: [aws, shellcheck], isRoot: false, manager: 'apt-get' });
    expect(apt.kind).toBe('stop');
    expect(apt.kind === 'stop' && apt.message).toMatch(/^the tests need aws, shellcheck, not found on PATH .*Install them, then run npm test again:\n {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends awscli shellcheck$/s);
    const dnf = planTools({ missing: [shellcheck], isRoot: false, manager: 'dnf' });
    expect(dnf.kind === 'stop' && dnf.message).toMatch(/\n {2}sudo dnf install -y \/usr\/bin\/shellcheck$/);
  });

  it('no apt-get or dnf: stops, saying where each missing tool comes from', () => {
    const plan = planTools({ missing: [aws], isRoot: true, manager: undefined });
    expect(plan).toEqual({ kind: 'stop', message: expect.stringContaining(`No apt-get or dnf here: install aws from ${aws.elsewhere}; then run npm test again.`) });
  });

  it('names the failed install command and the way around it', () => {
    const plan = planTools({ missing: [aws], isRoot: true, manager: 'apt-get' });
    if (plan.kind !== 'install') throw new Error('expected an install plan');
    expect(installFailed({ plan, failed: 'apt-get install -y --no-install-recommends awscli (exit 100)', stillMissing: [aws] }))
      .toBe(`apt-get install -y --no-install-recommends awscli (exit 100) failed: install aws from ${aws.elsewhere}; then run npm test again.`);
    expect(installFailed({ plan, stillMissing: [aws] })).toMatch(/^after apt-get update && apt-get install .* awscli, aws is still not on PATH/);
  });
});

describe('ensureTools (the script npm test runs first)', () => {
  const script = path.join(import.meta.dirname, '..', 'support', 'ensureTools.ts');
  let bin: string;
  afterEach(async () => {
    if (bin) await rm(bin, { recursive: true, force: true });
  });

  /** A PATH of only these commands: stand-ins that do nothing, so nothing is ever installed. */
  async function pathOf(commands: string[]): Promise<string> {
    bin = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-tools-'));
    for (const command of commands) {
      await writeFile(path.join(bin, command), '#!/bin/sh\nexit 0\n');
      await chmod(path.join(bin, command), 0o755);
    }
    await symlink(process.execPath, path.join(bin, 'node'));
    return bin;
  }

  const run = (searchPath: string) => spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: path.join(import.meta.dirname, '..', '..'), env: { PATH: searchPath, HOME: os.tmpdir() }, encoding: 'utf8',
  });

  it('is silent and exits 0 when every tool is on PATH', async () => {
    const result = run(await pathOf(TEST_TOOLS.map((t) => t.tool)));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('stops at once with exit 1 and says what to install when a tool is missing and no package manager can', async () => {
    const result = run(await pathOf(TEST_TOOLS.map((t) => t.tool).filter((t) => t !== 'shellcheck')));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('the tests need shellcheck, not found on PATH');
    expect(result.stderr).toContain(`install shellcheck from ${shellcheck.elsewhere}`);
    expect(result.stdout).toBe('');
  });
});
