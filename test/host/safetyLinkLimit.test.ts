/**
 * Issue 12, part 6: hard links can hit ext4's 65,000-link limit with many identical files (empty __init__.py,
 * .gitkeep) in one release or across kept ones: the agent falls back to copying on EMLINK. Its own file: the
 * revision has 66,000 paths and takes a while to place.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { makeTempDir, requireTools, syncArgs } from '../support/hostScript.ts';
import { runAgent } from '../support/hostSafety.ts';
import { publishToFolder, type Tree } from '../support/publishedRevision.ts';

let tmp: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  requireTools('bash', 'python3');
  tmp = await makeTempDir('safety-link-limit');
});
afterAll(async () => {
  await tmp.remove();
});

describe('more identical files than a file system allows links to one inode (ext4: 65,000)', () => {
  it('syncs them all, and after the limit links the rest to a fresh copy instead of copying each file', async () => {
    const c = { src: join(tmp.path, 'src'), source: `file://${join(tmp.path, 'src')}`, dest: join(tmp.path, 'dest') };
    const count = 66_000;
    const tree: Tree = {};
    // empty files (__init__.py, .gitkeep) are the usual case: one content, thousands of paths
    for (let i = 0; i < count; i++) tree[`pkg${Math.floor(i / 1000)}/m${i}/__init__.py`] = '';
    await publishToFolder(c.src, 'rev1', tree);
    const run = await runAgent(syncArgs({ source: c.source, revision: 'rev1', destination: c.dest }), { timeoutMs: 120_000 });
    expect(run.code, run.stdout).toBe(EXIT.synced);
    const inodes = new Map<number, number>();
    let files = 0;
    const release = join(c.dest, 'releases', 'rev1');
    for (const entry of await readdir(release, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      files++;
      const info = await stat(join(entry.parentPath, entry.name));
      expect(info.size).toBe(0);
      inodes.set(info.ino, (inodes.get(info.ino) ?? 0) + 1);
    }
    expect(files).toBe(count);
    // one inode per 65,000 files or so; not one copy per file past the limit
    expect(inodes.size, `${inodes.size} inodes for ${count} identical files`).toBeLessThanOrEqual(4);
  }, 180_000);
});
