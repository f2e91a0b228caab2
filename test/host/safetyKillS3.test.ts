/**
 * Issue 12, part 2 over s3:// (s3rver): kill -9 of the whole process group at seeded points of a sync whose
 * download runs through the aws CLI (a plain revision mirrored into the state folder's cache, and a published
 * one). Whatever a killed download leaves behind, the probe reports only a checked revision and the next sync
 * brings exactly the revision's files. Replay with FLEETSYNC_KILL_SEED=<seed> (in the test name).
 */
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../controller/hostProtocol.ts';
import { requireTools, syncArgs } from '../support/hostScript.ts';
import { FAST_PATH, mulberry32, publishBothWays, runAgent, syncKilledAfter } from '../support/hostSafety.ts';
import { folderDigest, startPublishedSources, treeDigest, type PublishedSources, type Tree } from '../support/publishedRevision.ts';

const POINTS = 20;
const SEED = Number(process.env.FLEETSYNC_KILL_SEED ?? (Date.now() % 2 ** 31));
const SLOW = 60_000;

let src: PublishedSources;

function revisionTree(n: number): Tree {
  const tree: Tree = { 'index.php': `rev${n}\n` };
  for (let i = 0; i < 60; i++) tree[`lib/m${i % 6}/f${i}.php`] = `<?php // ${i} of rev${n}\n${'z'.repeat(200 + i)}`;
  return tree;
}
const TREES: Record<string, Tree> = { rev1: revisionTree(1), rev2: revisionTree(2), rev3: revisionTree(3) };

beforeAll(async () => {
  requireTools('bash', 'python3', 'aws');
  src = await startPublishedSources('safety-kill-s3');
  await publishBothWays(src, TREES);
}, SLOW);
afterAll(async () => {
  await src?.stop();
});

/** what the killed syncs run with: the local S3's endpoint, and a PATH without the slow aws shim */
const KILL_ENV = (): Record<string, string> => ({ ...src.env, PATH: FAST_PATH });

const sharedLinks = (rel: string) => rel === 'media' || rel === 'var';

describe('kill -9 during an s3:// download', () => {
  it(`plain and published revisions: only checked revisions are reported, and the next sync is exact (${POINTS} points, seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const dest = src.newDest();
    const checkedLog = join(src.tmp, 'checked');
    const check = join(src.tmp, 'check');
    await writeFile(check, `#!/bin/sh\nprintf '%s\\n' "$FLEETSYNC_REVISION" >> '${checkedLog}'\n`, { mode: 0o755 });
    const checked = async () => (await readFile(checkedLog, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    const source = (round: number) => src.s3Source(round % 2 === 0 ? 'web' : 'plain');
    const args = (round: number, revision: string) => syncArgs({ source: source(round), revision, destination: dest, check });

    const first = await runAgent(args(1, 'rev1'), { env: src.env, timeoutMs: SLOW });
    expect(first.code, first.stdout).toBe(EXIT.synced);
    const timed = await syncKilledAfter(args(1, 'rev2'), KILL_ENV(), SLOW);
    expect(timed.code).toBe(EXIT.synced);
    let good = 'rev2';
    for (let round = 1; round <= POINTS; round++) {
      const names = Object.keys(TREES).filter((r) => r !== good);
      const target = names[Math.floor(random() * names.length)] as string;
      const delayMs = Math.floor(random() * timed.ms);
      const where = `seed ${SEED}, round ${round}: kill of an s3 sync (${source(round)}) ${good} -> ${target} after ${delayMs} ms`;
      const before = (await checked()).length;
      const run = await syncKilledAfter(args(round, target), KILL_ENV(), delayMs);
      const checkedNow = (await checked()).slice(before);
      const probe = await runAgent(['--mode', 'probe', '--destination', dest]);
      expect(probe.code, where).toBe(EXIT.synced);
      const allowed = run.code === EXIT.synced ? [target] : checkedNow.includes(target) ? [good, target] : [good];
      expect(allowed, `${where}: probe`).toContain(probe.result.revision);
      expect(await readlink(join(dest, 'current')), where).toBe(`releases/${probe.result.revision}`);

      // the next sync, from the other kind of source
      const next = Object.keys(TREES)[Math.floor(random() * 3)] as string;
      const again = await runAgent(args(round + 1, next), { env: src.env, timeoutMs: SLOW });
      expect(again.code, `${where}; then ${next}: ${again.stdout}`).toBe(EXIT.synced);
      expect(await folderDigest(join(dest, 'current/'), sharedLinks), `${where}; then ${next}`).toEqual(treeDigest(TREES[next] as Tree));
      good = next;
    }
  }, 240_000);
});
