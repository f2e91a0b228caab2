/**
 * deploy/host/fleetsync-sync.sh with published revisions: content already on the host (the live release, any
 * kept release with a manifest) is reused whatever its path or mode, content edited on the host is fetched
 * again, and an already-live revision is repaired in place.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, runScript, syncArgs, type ScriptRun } from '../support/hostScript.ts';
import {
  folderDigest, sha256, startPublishedSources, type PublishedSources, type Tree,
} from '../support/publishedRevision.ts';

const SLOW = 60_000;

let src: PublishedSources;

function sync(source: string, revision: string, destination: string): Promise<ScriptRun> {
  return runScript(syncArgs({ source, revision, destination }), { env: src.env, timeoutMs: SLOW });
}

beforeAll(async () => {
  requireTools('bash', 'flock', 'aws');
  src = await startPublishedSources('published-reuse');
}, SLOW);

afterAll(async () => {
  await src?.stop();
});

/** The links to <dest>/shared/media and shared/var every release has: not part of the revision. */
const sharedLinks = (rel: string) => rel === 'media' || rel === 'var';

describe('content from older releases, modes, renames, drift', () => {
  const small = (changes: Record<string, string | { content: string; mode: number } | null>): Tree => {
    const tree: Tree = {};
    for (let i = 0; i < 30; i++) tree[`app/f${i}.php`] = `<?php // ${i}\n${'x'.repeat(i * 13)}`;
    tree['bin/run'] = { content: '#!/bin/sh\necho run\n', mode: 0o755 };
    tree['docs/a file with spaces ü.txt'] = 'spaces and UTF-8';
    for (const [path, value] of Object.entries(changes)) {
      if (value === null) delete tree[path];
      else tree[path] = value;
    }
    return tree;
  };
  const A1 = small({});

  beforeAll(async () => {
    await src.publish('a1', A1);
    await src.publish('a2', small({
      'app/f1.php': 'changed 1', 'app/f2.php': 'changed 2', 'app/new.php': 'new file', 'app/f3.php': null,
      'app/moved/f4.php': A1['app/f4.php'] as string, 'app/f4.php': null, // renamed: same content, new path
      'app/f5.php': { content: A1['app/f5.php'] as string, mode: 0o755 }, // same content, new mode
      'bin/run-copy': 'changed 1', // the same new content twice
    }));
  }, SLOW);

  it('downloads each object once, re-fetches content edited on the host, and going back downloads nothing', async () => {
    const dest = src.newDest();
    src.proxy.clear();
    const first = await sync(src.s3Source('web'), 'a1', dest);
    expect(first.code, first.stderr).toBe(EXIT.synced);
    const objects = new Set(Object.values(A1).map((v) => sha256(typeof v === 'string' || Buffer.isBuffer(v) ? v : v.content)));
    expect(first.result).toMatchObject({ files: 32, downloadedFiles: objects.size, reusedFiles: 0 });
    expect(src.objectGets().sort()).toEqual([...objects].sort());
    expect(await folderDigest(join(dest, 'current/'), sharedLinks)).toEqual(src.digest('a1'));

    // Edited through the hard link on purpose: every kept copy of that content is now wrong, and must not be
    // carried over (f7 is the same in a1 and a2).
    await writeFile(join(dest, 'releases', 'a1', 'app', 'f7.php'), 'edited on the host');
    src.proxy.clear();
    const second = await sync(src.s3Source('web'), 'a2', dest);
    expect(second.code, second.stderr).toBe(EXIT.synced);
    // new: "changed 1" (twice), "changed 2", "new file"; plus f7 again. The rename and the mode change need nothing.
    expect(second.result).toMatchObject({ downloadedFiles: 4, reusedFiles: 33 - 5 });
    expect(src.objectGets().sort()).toEqual(['changed 1', 'changed 2', 'new file', A1['app/f7.php'] as string].map(sha256).sort());
    expect(await folderDigest(join(dest, 'current/'), sharedLinks)).toEqual(src.digest('a2'));

    src.proxy.clear();
    const again = await sync(src.s3Source('web'), 'a1', dest);
    expect(again.code, again.stderr).toBe(EXIT.synced);
    expect(again.result).toMatchObject({ downloadedFiles: 0, downloadedBytes: 0, reusedFiles: 32 });
    expect(src.objectGets()).toEqual([]);
    expect(await folderDigest(join(dest, 'current/'), sharedLinks)).toEqual(src.digest('a1'));
    expect((await readdir(join(dest, '.fleetsync', 'records'))).sort()).toEqual(['a1.tsv.gz', 'a2.tsv.gz']);
  }, SLOW);

  it('repairs the live release in place when the revision is already live: drifted files replaced by rename, extras deleted, excluded host state kept', async () => {
    const dest = src.newDest();
    expect((await sync(src.fileSource, 'a2', dest)).code).toBe(EXIT.synced);
    const live = join(dest, 'releases', 'a2');
    const drifted = join(live, 'app', 'f9.php');
    const inode = (await stat(drifted)).ino;
    // what a run that died leaves in the work folder is ignored and cleared
    await mkdir(join(dest, '.fleetsync', 'work', 'o'), { recursive: true });
    await writeFile(join(dest, '.fleetsync', 'work', 'o', sha256('changed 1')), 'leftover, not that content');
    await writeFile(join(dest, '.fleetsync', 'work', 'plan'), `l\t644\t/etc/hostname\t${drifted}\n`);
    // nothing to repair: nothing placed, nothing downloaded
    const noop = await sync(src.fileSource, 'a2', dest);
    expect(noop.code, noop.stderr).toBe(EXIT.synced);
    expect(noop.result).toMatchObject({ files: 0, bytes: 0, downloadedFiles: 0, reusedFiles: 33 });
    expect((await stat(drifted)).ino).toBe(inode);
    expect(existsSync(join(dest, '.fleetsync', 'work'))).toBe(false);
    await appendFile(drifted, '// appended on the host');
    await writeFile(join(live, 'app', 'stray.php'), 'not in the revision');
    await mkdir(join(live, 'var', 'cache'), { recursive: true });
    await writeFile(join(live, 'var', 'cache', 'state'), 'host state');
    const run = await sync(src.fileSource, 'a2', dest);
    expect(run.code, run.stderr).toBe(EXIT.synced);
    expect(run.result).toMatchObject({ files: 1, downloadedFiles: 1 });
    expect((await stat(drifted)).ino).not.toBe(inode);
    expect(await readFile(join(live, 'var', 'cache', 'state'), 'utf8')).toBe('host state');
    expect(await folderDigest(live, sharedLinks)).toEqual(src.digest('a2'));
  });
});
