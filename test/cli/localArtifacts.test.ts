import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifacts } from '../../controller/local/localArtifacts.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-artifacts-'));
  await mkdir(path.join(dir, 'full', 'sub'), { recursive: true });
  await writeFile(path.join(dir, 'full', 'sub', 'a.txt'), 'a');
  await mkdir(path.join(dir, 'empty'));
  await writeFile(path.join(dir, 'afile'), 'not a folder');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LocalArtifacts', () => {
  const artifacts = new LocalArtifacts();
  const source = (): string => `file://${dir}`;

  it('finds a revision whose folder has entries, and says where it looked', async () => {
    expect(await artifacts.check({ source: source(), revision: 'full' })).toEqual({ exists: true, kind: 'prefix', where: path.join(dir, 'full') });
  });

  it('a missing folder, an empty folder and a file are not a revision', async () => {
    for (const revision of ['missing', 'empty', 'afile']) {
      expect(await artifacts.check({ source: source(), revision })).toMatchObject({ exists: false, where: path.join(dir, revision) });
    }
  });

  it('refuses a revision that is not one and a source that is not file:///', async () => {
    await expect(artifacts.check({ source: source(), revision: '../etc' })).rejects.toThrow(/revision "..\/etc" is not valid/);
    await expect(artifacts.check({ source: 's3://bucket/web', revision: 'full' })).rejects.toThrow(/file:\/\/\/ sources only/);
  });
});
