/**
 * How the host script downloads a published revision's objects from S3: the aws CLI checks every listed key
 * against every --include, so a first sync that needs most of the store syncs the objects folder whole instead
 * (one listing, no filters), and says what moved; a handful of objects still go by name.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, runScript, syncArgs } from '../support/hostScript.ts';
import { codebase, folderDigest, startPublishedSources, type PublishedSources } from '../support/publishedRevision.ts';

const SLOW = 120_000;
const FILES = 500;
const CHANGED = [11, 111, 211, 311, 411];
let src: PublishedSources;

beforeAll(async () => {
  requireTools('bash', 'rsync', 'flock', 'aws', 'sha256sum');
  src = await startPublishedSources('published-fetch');
  await src.publish('f1', codebase(FILES), 'fetch');
  await src.publish('f2', codebase(FILES, CHANGED), 'fetch');
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

describe('downloading objects from S3', () => {
  it('a first sync that needs most of the store downloads it whole, reports what moved, and builds the release exactly', async () => {
    const dest = src.newDest();
    src.proxy.clear();
    const first = await runScript(syncArgs({ source: src.s3Source('fetch'), revision: 'f1', destination: dest, excludes: '' }),
      { env: src.env, timeoutMs: SLOW });
    expect(first.code, first.stdout).toBe(EXIT.synced);
    // 500 objects needed of the 505 the store holds: all 505 came down, and the result line says so
    expect(src.objectGets('fetch')).toHaveLength(FILES + CHANGED.length);
    expect(first.result).toMatchObject({ revision: 'f1', downloadedFiles: FILES + CHANGED.length, reusedFiles: 0 });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f1'));
    const log = await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8');
    expect(log).toContain(`downloading all ${FILES + CHANGED.length} objects of s3://`);

    src.proxy.clear();
    const second = await runScript(syncArgs({ source: src.s3Source('fetch'), revision: 'f2', destination: dest, excludes: '' }),
      { env: src.env, timeoutMs: SLOW });
    expect(second.code, second.stdout).toBe(EXIT.synced);
    expect(src.objectGets('fetch')).toHaveLength(CHANGED.length);
    expect(second.result).toMatchObject({ downloadedFiles: CHANGED.length, reusedFiles: FILES - CHANGED.length });
    expect(await folderDigest(join(dest, 'current'))).toEqual(src.digest('f2'));
    expect(await readFile(join(dest, '.fleetsync', 'sync.log'), 'utf8')).toContain(`downloading ${CHANGED.length} objects by name`);
  }, SLOW);
});
