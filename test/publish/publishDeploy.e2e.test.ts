/**
 * publish and deploy together, on dynalite with a fleet whose source is a file:/// folder: an interrupted
 * publish leaves a revision deploy refuses (and a second publish completes it); a file that changes while it is
 * published never becomes an object under the wrong name; --fleet takes the fleet's source and excludes.
 */
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliBackend, type CliBackend } from '../support/cliBackend.ts';
import { writeCodebase } from '../support/publishedRevision.ts';
import { run } from '../cli/cliHarness.ts';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import { LocalArtifacts } from '../../controller/local/localArtifacts.ts';
import { ContentChangedError } from '../../controller/errors.ts';
import type { ObjectUpload } from '../../controller/ports/artifacts.ts';
import { publishRevision } from '../../controller/publish/publish.ts';
import { sha256File } from '../../controller/publish/hashing.ts';
import { realClock } from '../../controller/clock/realClock.ts';

const FILES = 60;
let backend: CliBackend;
let source: string;
let sourceDir: string;
let build: string;
const env = { FLEETSYNC_TABLE: 'publish-e2e' };
const cli = (argv: string[]): ReturnType<typeof run> => run(argv, { env });

beforeAll(async () => {
  backend = await startCliBackend({ prefix: 'publish-e2e', revisions: [] });
  sourceDir = path.join(backend.dir, 'source');
  source = `file://${sourceDir}`;
  build = path.join(backend.dir, 'build');
  await writeCodebase(build, FILES);
  await mkdir(path.join(build, 'media'), { recursive: true });
  await writeFile(path.join(build, 'media', 'upload.jpg'), 'user upload, never published');
  expect((await cli(['init'])).code).toBe(0);
  const fleetFile = path.join(backend.dir, 'web.yaml');
  await writeFile(fleetFile, `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata: { name: web }
spec:
  autoScalingGroupName: web-asg
  source: ${source}
  destination: /var/www/app
  revision: bootstrap
  excludes: ["media/*"]
`);
  const applied = await cli(['fleet', 'apply', '-f', fleetFile]);
  expect(applied.code, applied.stderr).toBe(0);
});

afterAll(() => backend.stop());

/** LocalArtifacts whose upload fails after `okUploads` objects, as a killed or cut-off publish would. */
class FailingArtifacts extends LocalArtifacts {
  uploads = 0;
  constructor(private readonly okUploads: number) {
    super();
  }

  override async putObject(args: ObjectUpload): Promise<void> {
    if (this.uploads >= this.okUploads) throw new Error('connection reset by peer');
    this.uploads += 1;
    await super.putObject(args);
  }
}

describe('publish, then deploy', () => {
  it('an interrupted publish leaves no manifest: deploy refuses it and says why; publishing again completes it', async () => {
    const failing = new FailingArtifacts(10);
    await expect(publishRevision({
      dir: build, source, revision: 'r1', excludes: ['media/*'], publishedBy: 'ci@build', store: failing, clock: realClock,
      uploadConcurrency: 1,
    })).rejects.toThrow(/connection reset/);
    expect(failing.uploads).toBe(10);
    expect((await readdir(path.join(sourceDir, 'objects'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile())).toHaveLength(10);

    const refused = await cli(['deploy', 'web', 'r1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('cannot deploy r1 to fleet web: revision r1 has no manifest.json and no files at');
    expect(refused.stderr).toContain('A publish that was interrupted leaves no manifest.json (it is written last): run the publish again');
    const store = new DynamoStore({ client: backend.db.client(), tableName: env.FLEETSYNC_TABLE });
    expect((await store.getFleet('web'))?.spec.revision).toBe('bootstrap');

    // --fleet: the fleet's source and its excludes (media/* stays out); only the objects still missing go up
    const again = await cli(['publish', build, '--fleet', 'web', '--revision', 'r1', '-o', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ files: FILES, uploadedObjects: FILES - 10, excluded: 1 });
    expect(await readFile(path.join(sourceDir, 'r1', 'manifest.json'), 'utf8')).not.toContain('media/');

    const deployed = await cli(['deploy', 'web', 'r1']);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stdout).toMatch(new RegExp(`deploying r1 \\(${FILES} files, [\\d.]+ kB\\) \\(was bootstrap\\)`));
    const [event] = await store.listHistory('web', { limit: 1 });
    expect(event?.message).toMatch(new RegExp(`^deploy r1 \\(was bootstrap\\), ${FILES} files, [\\d.]+ kB$`));
  });

  it('a file that changes while it is published fails the publish; no object holds other bytes than its name says', async () => {
    const victim = path.join(build, 'src/module-5/part-5/file-5.php');
    await writeFile(victim, 'version 2 of this file');
    let edited = false;
    const error = await publishRevision({
      dir: build, source, revision: 'r2', excludes: ['media/*'], publishedBy: 'ci@build', store: new LocalArtifacts(), clock: realClock,
      onProgress: (p) => {
        if (p.phase === 'uploading' && !edited) {
          edited = true;
          writeFileSync(victim, 'version 2 of this file, still being written by the build');
        }
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContentChangedError);
    expect((error as Error).message).toContain('file-5.php changed while it was being published');
    expect((error as Error).message).toContain('publish again');
    await expect(readFile(path.join(sourceDir, 'r2', 'manifest.json'))).rejects.toThrow(/ENOENT/);
    const objects = path.join(sourceDir, 'objects');
    for (const entry of await readdir(objects, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      // objects/ab/<sha256>: the content hashes to the name, and the folder is the name's first two digits
      expect(await sha256File(file), file).toBe(entry.name);
      expect(path.relative(objects, file)).toBe(`${entry.name.slice(0, 2)}/${entry.name}`);
    }
  });
});
