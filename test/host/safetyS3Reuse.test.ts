/**
 * Issue 12, part 5 over s3:// (s3rver): content the host already has is reused only while it is as it was
 * verified. A file of a kept release rewritten on the host (same size, mtime set back: only its ctime tells) must
 * not be reused for a new revision, nor make a rollback instant; both come out byte for byte right.
 */
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, syncArgs } from '../support/hostScript.ts';
import { publishBothWays, runAgent, type RawRun } from '../support/hostSafety.ts';
import { folderDigest, startPublishedSources, treeDigest, type PublishedSources, type Tree } from '../support/publishedRevision.ts';

const SLOW = 60_000;
const sharedLinks = (rel: string) => rel === 'media' || rel === 'var';

function revision(n: number): Tree {
  const tree: Tree = { 'index.php': `<?php echo ${n};\n` };
  for (let i = 0; i < 20; i++) tree[`lib/f${i}.php`] = `<?php // shared ${i} ${'s'.repeat(i * 5)}\n`;
  tree[`only-${n}.php`] = `only in ${n}\n`;
  return tree;
}
const TREES: Record<string, Tree> = { rev1: revision(1), rev2: revision(2), rev3: revision(3) };

let src: PublishedSources;

beforeAll(async () => {
  requireTools('bash', 'python3', 'aws');
  src = await startPublishedSources('safety-s3-reuse');
  await publishBothWays(src, TREES);
}, SLOW);
afterAll(async () => {
  await src?.stop();
});

/** Rewrites a file with other bytes of the same size and puts its mtime back. */
async function rewriteSameSize(file: string): Promise<void> {
  const before = await stat(file);
  const content = await readFile(file, 'utf8');
  await writeFile(file, content.replace('shared', 'SHARED'));
  await utimes(file, before.atime, before.mtime);
}

describe.each([
  { name: 'plain, s3://', prefix: 'plain' },
  { name: 'published, s3://', prefix: 'web' },
])('a kept release rewritten on the host ($name)', ({ prefix }) => {
  const sync = (revisionName: string, dest: string): Promise<RawRun> => runAgent(
    syncArgs({ source: src.s3Source(prefix), revision: revisionName, destination: dest }), { env: src.env, timeoutMs: SLOW });
  const digest = (dest: string) => folderDigest(join(dest, 'current/'), sharedLinks);

  it('is not reused for a new revision, nor for a rollback: both come out right', async () => {
    const dest = src.newDest();
    expect((await sync('rev1', dest)).code).toBe(EXIT.synced);
    expect((await sync('rev2', dest)).code).toBe(EXIT.synced);
    // lib/f3.php is the same in every revision: rewritten through the kept rev1 (and so through whatever shares its inode)
    await rewriteSameSize(join(dest, 'releases', 'rev1', 'lib', 'f3.php'));

    const next = await sync('rev3', dest);
    expect(next.code, next.stdout).toBe(EXIT.synced);
    expect(await digest(dest)).toEqual(treeDigest(TREES.rev3 as Tree));
    const back = await sync('rev1', dest);
    expect(back.code, back.stdout).toBe(EXIT.synced);
    expect(await digest(dest)).toEqual(treeDigest(TREES.rev1 as Tree));
    const forward = await sync('rev2', dest);
    expect(forward.code, forward.stdout).toBe(EXIT.synced);
    expect(await digest(dest)).toEqual(treeDigest(TREES.rev2 as Tree));
  }, SLOW);
});
