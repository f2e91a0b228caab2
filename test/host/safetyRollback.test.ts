/**
 * Issue 12, part 5: rollback to a kept release is instant. When releases/R exists and its files are as they
 * were placed (size, inode, mode and ctime recorded, which no user can set back), syncing R again switches the
 * link (and runs the check): downloadedFiles 0 and hashedFiles 0 in the result line, for published and plain
 * revisions, from file:// and s3:// (s3rver behind a recording proxy: no object or file is fetched). A release
 * edited on the host is no longer instant, and comes back right.
 */
import { appendFile, chmod, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, syncArgs } from '../support/hostScript.ts';
import { runAgent, writeCheck, type RawRun } from '../support/hostSafety.ts';
import {
  folderDigest, startPublishedSources, treeDigest, writeTreeFiles, type PublishedSources, type Tree,
} from '../support/publishedRevision.ts';

const SLOW = 60_000;
const sharedLinks = (rel: string) => rel === 'media' || rel === 'var';

/** Three revisions sharing most files; each has a file of its own and an edited one. */
function revision(n: number): Tree {
  const tree: Tree = {};
  for (let i = 0; i < 40; i++) tree[`app/part-${i % 4}/f${i}.php`] = `<?php // shared ${i}\n${'x'.repeat(i * 7)}`;
  tree['app/edited.php'] = `<?php // version ${n}\n`;
  tree[`app/only-in-${n}.php`] = `<?php // only in revision ${n}, ${'y'.repeat(n * 11)}\n`;
  tree['index.php'] = `<?php echo ${n};\n`;
  return tree;
}
const TREES: Record<string, Tree> = { rev1: revision(1), rev2: revision(2), rev3: revision(3) };

let src: PublishedSources;
let plainFolder = '';

beforeAll(async () => {
  requireTools('bash', 'python3', 'aws');
  src = await startPublishedSources('safety-rollback');
  plainFolder = join(src.tmp, 'plain');
  for (const [name, tree] of Object.entries(TREES)) {
    await src.publish(name, tree, 'web');
    await writeTreeFiles(join(plainFolder, name), tree);
    for (const [path, content] of Object.entries(tree)) await src.bucket.put(`plain/${name}/${path}`, content as string);
  }
}, SLOW);
afterAll(async () => {
  await src?.stop();
});

interface Kind { name: string; source: () => string; s3Prefix?: string }
const KINDS: Kind[] = [
  { name: 'published, file://', source: () => src.fileSource },
  { name: 'plain, file://', source: () => `file://${plainFolder}` },
  { name: 'published, s3://', source: () => src.s3Source('web'), s3Prefix: 'web' },
  { name: 'plain, s3://', source: () => src.s3Source('plain'), s3Prefix: 'plain' },
];

async function sync(kind: Kind, revisionName: string, dest: string, extra: { check?: string } = {}): Promise<RawRun> {
  const run = await runAgent(syncArgs({ source: kind.source(), revision: revisionName, destination: dest, keepReleases: 5, ...extra }),
    { env: src.env, timeoutMs: SLOW });
  return run;
}

/** The GETs the proxy saw for a revision's content (objects of published ones, files of plain ones) since `from`. */
function contentGets(kind: Kind, from: number): string[] {
  if (!kind.s3Prefix) return [];
  return src.proxy.requests.slice(from)
    .filter((r) => r.method === 'GET' && (r.path.includes(`/${kind.s3Prefix}/objects/`) || /\/rev\d\//.test(r.path)))
    .map((r) => r.path);
}

async function expectLive(dest: string, name: string): Promise<void> {
  expect(await readlink(join(dest, 'current'))).toBe(`releases/${name}`);
  expect(await folderDigest(join(dest, 'current/'), sharedLinks)).toEqual(treeDigest(TREES[name] as Tree));
}

function expectInstant(run: RawRun, what: string): void {
  expect(run.code, `${what}: ${run.stdout}`).toBe(EXIT.synced);
  expect(run.fields, `${what}: ${run.stdout}`).toMatchObject({ downloadedFiles: 0, hashedFiles: 0 });
}

describe.each(KINDS)('rollback to a kept release ($name)', (kind) => {
  it('rev1, rev2, then rev1 again: no download, no hash, the right content; and back to rev2 the same', async () => {
    const dest = src.newDest();
    expect((await sync(kind, 'rev1', dest)).code).toBe(EXIT.synced);
    expect((await sync(kind, 'rev2', dest)).code).toBe(EXIT.synced);
    const from = src.proxy.requests.length;
    expectInstant(await sync(kind, 'rev1', dest), 'back to rev1');
    await expectLive(dest, 'rev1');
    expectInstant(await sync(kind, 'rev2', dest), 'forward to rev2');
    await expectLive(dest, 'rev2');
    expect(contentGets(kind, from)).toEqual([]);
  }, SLOW);

  it('a file of the kept release appended to on the host: the rollback is no longer instant, and the file is right again', async () => {
    const dest = src.newDest();
    expect((await sync(kind, 'rev1', dest)).code).toBe(EXIT.synced);
    expect((await sync(kind, 'rev2', dest)).code).toBe(EXIT.synced);
    await appendFile(join(dest, 'releases', 'rev1', 'app', 'only-in-1.php'), '// edited on the host\n');

    const back = await sync(kind, 'rev1', dest);
    expect(back.code, back.stdout).toBe(EXIT.synced);
    expect(Number(back.fields.hashedFiles) + Number(back.fields.downloadedFiles), back.stdout).toBeGreaterThan(0);
    await expectLive(dest, 'rev1');
    // once rebuilt, it is instant again
    expectInstant(await sync(kind, 'rev2', dest), 'forward to rev2');
    expectInstant(await sync(kind, 'rev1', dest), 'back to rev1 after the rebuild');
    await expectLive(dest, 'rev1');
  }, SLOW);
});

describe.each(KINDS.filter((k) => !k.s3Prefix))('a kept release changed on the host comes back right ($name)', (kind) => {
  const tampers: Array<[string, (release: string) => Promise<void>, boolean]> = [
    ['rewritten with the same size, its mtime set back', async (release) => {
      const file = join(release, 'app', 'only-in-1.php');
      const before = await stat(file);
      const content = await readFile(file, 'utf8');
      await writeFile(file, content.replace('only', 'ONLY'));
      await utimes(file, before.atime, before.mtime);
    }, true],
    ['chmod 600', async (release) => { await chmod(join(release, 'app', 'only-in-1.php'), 0o600); }, false],
    ['a file added', async (release) => { await writeFile(join(release, 'app', 'planted.php'), '<?php system($_GET["c"]);\n'); }, false],
    ['a file deleted', async (release) => { await rm(join(release, 'app', 'only-in-1.php')); }, true],
    ['a shared file replaced by a copy (same content, new inode)', async (release) => {
      const file = join(release, 'app', 'part-1', 'f1.php');
      const content = await readFile(file);
      await rm(file);
      await writeFile(file, content);
    }, false],
  ];

  it.each(tampers)('%s', async (_what, tamper, needsContent) => {
    const dest = src.newDest();
    expect((await sync(kind, 'rev1', dest)).code).toBe(EXIT.synced);
    expect((await sync(kind, 'rev2', dest)).code).toBe(EXIT.synced);
    await tamper(join(dest, 'releases', 'rev1'));
    const back = await sync(kind, 'rev1', dest);
    expect(back.code, back.stdout).toBe(EXIT.synced);
    if (needsContent) expect(Number(back.fields.hashedFiles) + Number(back.fields.downloadedFiles), back.stdout).toBeGreaterThan(0);
    await expectLive(dest, 'rev1');
  }, SLOW);

  it('a file shared (hard-linked) with the live release, rewritten through the live one: the rollback is right, and so is a re-sync of the live one', async () => {
    const dest = src.newDest();
    expect((await sync(kind, 'rev1', dest)).code).toBe(EXIT.synced);
    expect((await sync(kind, 'rev2', dest)).code).toBe(EXIT.synced);
    const live = join(dest, 'releases', 'rev2', 'app', 'part-2', 'f2.php');
    const before = await stat(live);
    const content = await readFile(live, 'utf8');
    await writeFile(live, content.replace('shared', 'SHARED'));
    await utimes(live, before.atime, before.mtime);

    const back = await sync(kind, 'rev1', dest);
    expect(back.code, back.stdout).toBe(EXIT.synced);
    await expectLive(dest, 'rev1');
    const forward = await sync(kind, 'rev2', dest);
    expect(forward.code, forward.stdout).toBe(EXIT.synced);
    await expectLive(dest, 'rev2');
  }, SLOW);

  it('instant across three kept releases in any order, the check running each time; a failing check rolls back and rev1 stays instant', async () => {
    const dest = src.newDest();
    const checked = join(src.tmp, `checked-${kind.name.replace(/\W+/g, '-')}`);
    const check = await writeCheck(join(src.tmp, `check-${kind.name.replace(/\W+/g, '-')}`), { logFile: checked });
    for (const name of ['rev1', 'rev2', 'rev3']) expect((await sync(kind, name, dest, { check })).code).toBe(EXIT.synced);
    for (const name of ['rev1', 'rev3', 'rev2', 'rev1']) {
      expectInstant(await sync(kind, name, dest, { check }), `to ${name}`);
      await expectLive(dest, name);
    }
    expect((await readFile(checked, 'utf8')).split('\n').filter(Boolean)).toEqual(['rev1', 'rev2', 'rev3', 'rev1', 'rev3', 'rev2', 'rev1']);

    const failing = await writeCheck(join(src.tmp, `fails-${kind.name.replace(/\W+/g, '-')}`), { logFile: checked, exitCode: 1 });
    const refused = await sync(kind, 'rev2', dest, { check: failing });
    expect(refused.code, refused.stdout).toBe(EXIT.checkFailed);
    expect(refused.result.revision).toBe('rev1');
    await expectLive(dest, 'rev1');
    expectInstant(await sync(kind, 'rev2', dest, { check }), 'to rev2 after the failed check');
    await expectLive(dest, 'rev2');
  }, SLOW);
});
