/**
 * collectObjects on a folder source, for what the CLI test cannot stage: a manifest gc cannot read stops it before
 * anything is removed, and a revision published while gc runs keeps the old objects it lists.
 */
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectObjects } from '../../controller/gc/collectObjects.ts';
import { UnknownReferencesError } from '../../controller/errors.ts';
import { LocalArtifacts } from '../../controller/local/localArtifacts.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import type { StoredObject } from '../../controller/ports/artifacts.ts';
import { makeTempDir } from '../support/hostScript.ts';
import { manifestOf, publishToFolder, sha256 } from '../support/publishedRevision.ts';

const DAY_MS = 86_400_000;
let tmp: { path: string; remove(): Promise<void> };
let root: string;
let source: string;

async function objectFiles(): Promise<string[]> {
  return (await readdir(path.join(root, 'objects'), { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile()).map((e) => e.name).sort();
}

async function ageEverything(): Promise<void> {
  const old = (Date.now() - 2 * DAY_MS) / 1000;
  for (const entry of await readdir(path.join(root, 'objects'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) await utimes(path.join(entry.parentPath, entry.name), old, old);
  }
}

const options = (store: LocalArtifacts) => ({ source, keep: 1, gracePeriodMs: DAY_MS, pinned: new Map(), dryRun: false, store, clock: realClock });

beforeEach(async () => {
  tmp = await makeTempDir('gc-collect');
  root = path.join(tmp.path, 'source');
  source = `file://${root}`;
  await publishToFolder(root, 'old', { 'a.php': 'old content' });
  await publishToFolder(root, 'new', { 'a.php': 'new content' });
  // publishedAt decides which is newest: both helpers' manifests say 2024-01-01, so make "new" newer
  const newer = manifestOf('new', { 'a.php': 'new content' }).text.replace('2024-01-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z');
  await writeFile(path.join(root, 'new', 'manifest.json'), newer);
  await ageEverything();
});

afterEach(() => tmp.remove());

describe('collectObjects', () => {
  it('keeps only the newest revision\'s objects when nothing else uses the others', async () => {
    const summary = await collectObjects(options(new LocalArtifacts()));
    expect(summary.revisions.newest).toEqual(['new']);
    expect(await objectFiles()).toEqual([sha256('new content')]);
  });

  it('removes nothing when a manifest cannot be read, and says which and why', async () => {
    await mkdir(path.join(root, 'broken'), { recursive: true });
    const text = manifestOf('broken', { 'b.php': 'b' }).text.replace('"totals":{"files":1', '"totals":{"files":2');
    await writeFile(path.join(root, 'broken', 'manifest.json'), text);
    const error = await collectObjects(options(new LocalArtifacts())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownReferencesError);
    expect((error as Error).message).toMatch(/gc cannot tell which objects revision broken uses: .*totals do not add up.*Nothing was removed/);
    expect(await objectFiles()).toEqual([sha256('new content'), sha256('old content')].sort());
  });

  it('keeps an old object that a revision published while gc ran lists (it was found stored, not uploaded)', async () => {
    class PublishDuringScan extends LocalArtifacts {
      override async scanObjects(args: { source: string }): Promise<StoredObject[]> {
        const found = await super.scanObjects(args);
        // the manifest only: its object was already stored, so the publish uploaded nothing
        await mkdir(path.join(root, 'late'), { recursive: true });
        await writeFile(path.join(root, 'late', 'manifest.json'), manifestOf('late', { 'a.php': 'old content' }).text);
        return found;
      }
    }
    const summary = await collectObjects(options(new PublishDuringScan()));
    expect(summary.removed.objects).toBe(0);
    expect(await objectFiles()).toEqual([sha256('new content'), sha256('old content')].sort());
  });

  it('an app\'s own manifest.json makes a plain folder, which uses no objects', async () => {
    await mkdir(path.join(root, 'plain'), { recursive: true });
    await writeFile(path.join(root, 'plain', 'manifest.json'), '{"name":"my-app"}');
    const summary = await collectObjects({ ...options(new LocalArtifacts()), dryRun: true });
    expect(summary).toMatchObject({ revisions: { published: 2 }, removed: { objects: 1 } });
    expect(await objectFiles()).toHaveLength(2);
  });
});
