/**
 * How the host script downloads a published revision's objects from S3: the aws CLI checks every listed key
 * against every --include, so a first sync that needs most of the store syncs the objects folder whole instead
 * (one listing, no filters), and says what moved; a handful of objects still go by name.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, runScript, syncArgs } from '../support/hostScript.ts';
import { codebase, folderDigest, startPublishedSources, type PublishedSources } from '../support/publishedRevision.ts';

const SLOW = 120_000;
const FILES = 500;
const CHANGED = [11, 111, 211, 311, 411];
const CHANGED_AGAIN = [3, 53, 103, 153, 203, 253, 303, 353, 403, 453];
let src: PublishedSources;
let dest: string;

beforeAll(async () => {
  requireTools('bash', 'flock', 'aws');
  src = await startPublishedSources('published-fetch');
  await src.publish('f1', codebase(FILES), 'fetch');
  await src.publish('f2', codebase(FILES, CHANGED), 'fetch');
  await src.publish('f3', codebase(FILES, CHANGED_AGAIN, 3), 'fetch');
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

describe('downloading objects from S3', () => {
  it('a first sync that needs most of the store downloads it whole, reports what moved, and builds the release exactly', async () => {
    dest = src.newDest();
    src.proxy.clear();
    const first = await runScript(syncArgs({ source: src.s3Source('fetch'), revision: 'f1', destination: dest, excludes: '' }),
      { env: src.env, timeoutMs: SLOW });
    expect(first.code, first.stdout).toBe(EXIT.synced);
    // 500 objects needed of the 505 the store holds: all 505 came down, and the result line says so
    const stored = FILES + CHANGED.length + CHANGED_AGAIN.length;
    expect(src.objectGets('fetch')).toHaveLength(stored);
    expect(first.result).toMatchObject({ revision: 'f1', downloadedFiles: stored, reusedFiles: 0 });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f1'));
    const log = await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8');
    expect(log).toContain(`downloading all ${stored} objects of s3://`);

    src.proxy.clear();
    const second = await runScript(syncArgs({ source: src.s3Source('fetch'), revision: 'f2', destination: dest, excludes: '' }),
      { env: src.env, timeoutMs: SLOW });
    expect(second.code, second.stdout).toBe(EXIT.synced);
    expect(src.objectGets('fetch')).toHaveLength(CHANGED.length);
    expect(second.result).toMatchObject({ downloadedFiles: CHANGED.length, reusedFiles: FILES - CHANGED.length });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f2'));
    expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).toContain(`downloading ${CHANGED.length} objects by name`);
  }, SLOW);

  it('a handful of objects from a large store go one process each, not through thousands of --include checks', async () => {
    // An aws in front of the real one adds 30,000 keys to the listing of objects/, as a store with a long history has.
    const bin = join(src.tmp, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'aws'), `#!/bin/bash
"$REAL_AWS" "$@" || exit
if [[ " $* " == *" s3 ls "*"/objects/ "* ]]; then for ((i = 1; i <= 30000; i++)); do printf '2024-01-01 00:00:00 100 %064x\\n' "$i"; done; fi
`, { mode: 0o755 });
    const realAws = execFileSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' }).trim();
    src.proxy.clear();
    const third = await runScript(syncArgs({ source: src.s3Source('fetch'), revision: 'f3', destination: dest, excludes: '' }),
      { env: { ...src.env, REAL_AWS: realAws, PATH: `${bin}:${process.env.PATH ?? ''}` }, timeoutMs: SLOW });
    expect(third.code, third.stdout).toBe(EXIT.synced);
    expect(src.objectGets('fetch')).toHaveLength(CHANGED_AGAIN.length);
    expect(third.result).toMatchObject({ downloadedFiles: CHANGED_AGAIN.length });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f3'));
    expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8'))
      .toContain(`downloading ${CHANGED_AGAIN.length} objects of ${30000 + FILES + CHANGED.length + CHANGED_AGAIN.length}, one process each`);
  }, SLOW);

  it('refuses the revision name "objects": that folder is the object store, not a codebase', async () => {
    const run = await runScript(syncArgs({ source: src.fileSource, revision: 'objects', destination: src.newDest(), excludes: '' }),
      { env: src.env, timeoutMs: SLOW });
    expect(run.code).toBe(EXIT.syncFailed);
    expect(run.result.error).toContain('revision objects is reserved');
  });
});
