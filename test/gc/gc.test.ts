/**
 * `fleetsync gc` end to end through the CLI, on dynalite (the fleets) and a file:/// source and a local S3
 * (s3rver): it removes objects no kept revision uses and that are older than the grace period, keeps those of
 * the newest published revisions (by publish time) and of every revision a fleet on the source wants, reached,
 * attempted or runs on a host, reads both object layouts, and never touches manifests.
 */
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import type { Clock } from '../../controller/ports/clock.ts';
import type { Store } from '../../controller/ports/store.ts';
import { flatObjectKey, objectKey } from '../../state/manifest.ts';
import { startCliBackend, type CliBackend } from '../support/cliBackend.ts';
import { FAKE_CREDENTIALS, startS3rver, type LocalS3 } from '../support/s3rver.ts';
import { bucketClient, sha256, type Bucket } from '../support/publishedRevision.ts';
import { hostRecord, run, statusOf } from '../cli/cliHarness.ts';

const SLOW = 120_000;
const HOUR_MS = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
/** in publish order: zz first (its name sorts last, its publish time is the oldest) */
const REVISIONS = ['zz', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'];

let backend: CliBackend;
let s3: LocalS3;
let bucket: Bucket;
let tables = 0;

/** A clock that stands at one moment: what publish records as publishedAt. */
function clockAt(ms: number): Clock {
  return { ...realClock, nowMs: () => ms };
}

interface Summary {
  removed: { objects: number; bytes: number };
  stored: { objects: number };
  referenced: { objects: number };
  young: { objects: number };
  revisions: { published: number; newest: string[]; inUse: Record<string, string[]>; notPublished: string[] };
}

interface Kind {
  name: string;
  source: string;
  /** every key under the source, relative to it */
  keys(): Promise<string[]>;
  put(key: string, content: string): Promise<void>;
  /** makes everything stored so far older than the grace period gcArgs gives */
  age(): Promise<void>;
  graceArgs: string[];
}

function fileKind(): Kind {
  const root = path.join(backend.dir, 'file-source');
  return {
    name: 'file://',
    source: `file://${root}`,
    keys: async () => (await readdir(root, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name))).sort(),
    async put(key, content) {
      await mkdir(path.dirname(path.join(root, key)), { recursive: true });
      await writeFile(path.join(root, key), content);
    },
    async age() {
      // two days old: past the default grace period of 24 hours
      const old = (Date.now() - 48 * HOUR_MS) / 1000;
      for (const key of await this.keys()) await utimes(path.join(root, key), old, old);
    },
    graceArgs: [],
  };
}

function s3Kind(): Kind {
  const prefix = 'web';
  return {
    name: 's3://',
    source: `s3://${s3.bucket}/${prefix}`,
    async keys() {
      const page = await bucket.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
      return (page.Contents ?? []).map((o) => (o.Key ?? '').slice(prefix.length + 1)).sort();
    },
    put: (key, content) => bucket.put(`${prefix}/${key}`, content),
    // S3 sets LastModified itself: wait, and give gc a grace period of 6 s (S3 keeps whole seconds)
    age: () => new Promise((resolve) => { setTimeout(resolve, 12_000); }),
    graceArgs: ['--grace-hours', '0.001667'],
  };
}

async function freshTable(): Promise<{ env: Record<string, string>; store: Store }> {
  const env = { FLEETSYNC_TABLE: `gc-test-${++tables}`, AWS_ENDPOINT_URL_S3: s3.endpoint };
  const init = await run(['init'], { env });
  expect(init.code, init.stderr).toBe(0);
  return { env, store: new DynamoStore({ client: backend.db.client(), tableName: env.FLEETSYNC_TABLE }) };
}

async function applyFleet(env: Record<string, string>, name: string, source: string, revision: string): Promise<void> {
  const file = path.join(backend.dir, `${name}-${tables}.yaml`);
  await writeFile(file, `apiVersion: fleetsync.dev/v1
kind: Fleet
metadata:
  name: ${name}
spec:
  autoScalingGroupName: ${name}-asg
  source: ${source}
  destination: /var/www/app
  revision: ${revision}
`);
  const applied = await run(['fleet', 'apply', '-f', file], { env });
  expect(applied.code, applied.stderr).toBe(0);
}

beforeAll(async () => {
  backend = await startCliBackend({ prefix: 'gc', revisions: ['zz'] });
  s3 = await startS3rver();
  bucket = bucketClient(s3.endpoint, s3.bucket);
  // the CLI's S3 client reads the process's settings; dynalite takes any credentials
  vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_ENDPOINT_URL_S3', s3.endpoint);
  // s3rver predates the SDK's default CRC32 request checksums
  vi.stubEnv('AWS_REQUEST_CHECKSUM_CALCULATION', 'WHEN_REQUIRED');
  vi.stubEnv('AWS_RESPONSE_CHECKSUM_VALIDATION', 'WHEN_REQUIRED');
}, SLOW);

afterAll(async () => {
  bucket?.client.destroy();
  await s3?.stop();
  await backend?.stop();
});

describe('fleetsync gc', () => {
  for (const make of [fileKind, s3Kind]) {
    it(`${make.name === 'fileKind' ? 'file://' : 's3://'}: removes only old objects no kept or fleet-used revision lists; --dry-run removes nothing`, async () => {
      const kind = make();
      const { env, store } = await freshTable();
      const only = (revision: string): string => `only in ${revision}\n`;
      // a publish before sharding left r5's own object (objects/<sha256>) and one nothing uses
      await kind.put(flatObjectKey(sha256(only('r5'))), only('r5'));
      await kind.put(flatObjectKey(sha256('legacy orphan\n')), 'legacy orphan\n');
      for (const [i, revision] of REVISIONS.entries()) {
        const dir = path.join(backend.dir, `build-${tables}-${revision}`);
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, 'shared.php'), 'shared by all\n');
        await writeFile(path.join(dir, `${revision}.php`), only(revision));
        const published = await run(['publish', dir, '--source', kind.source, '--revision', revision, '--output', 'json'],
          { env, clock: clockAt(T0 + i * HOUR_MS) });
        expect(published.code, published.stderr).toBe(0);
        // publish finds the object where the older layout keeps it, and does not upload it again
        if (revision === 'r5') expect(JSON.parse(published.stdout)).toMatchObject({ uploadedObjects: 0 });
      }
      // fleet web on this source wants r4, reached r2 (so a rollback would go to r2), attempted r3; a host runs r1
      await applyFleet(env, 'web', kind.source, 'r4');
      const host = hostRecord({ instanceId: 'i-0123456789abcdef0', state: 'inSync', reported: 'r1' });
      await store.putHost({ fleet: 'web', host, token: 1 });
      await store.putStatus({ fleet: 'web', token: 1, status: statusOf({ observedGeneration: 1, desired: 'r3', reached: 'r2', hosts: [host] }) });
      // a fleet on another source that wants zz keeps nothing here
      await applyFleet(env, 'other', `file://${backend.artifacts}`, 'zz');

      await kind.age();
      const young = objectKey(sha256('uploaded just now\n'));
      await kind.put(young, 'uploaded just now\n');
      const before = await kind.keys();
      expect(before).toContain(objectKey(sha256(only('zz'))));

      const dry = await run(['gc', '--fleet', 'web', '--keep', '2', '--dry-run', '--output', 'json', ...kind.graceArgs], { env });
      expect(dry.code, dry.stderr).toBe(0);
      const planned = JSON.parse(dry.stdout) as Summary;
      expect(planned.revisions).toEqual({
        published: 7, newest: ['r6', 'r5'], inUse: { r1: ['web'], r2: ['web'], r3: ['web'], r4: ['web'] }, notPublished: [],
      });
      // stored: shared, 7 own objects, the legacy orphan, the young one; removable: zz's own and the legacy orphan
      expect(planned).toMatchObject({ stored: { objects: 10 }, referenced: { objects: 7 }, young: { objects: 1 }, removed: { objects: 2 } });
      expect(await kind.keys()).toEqual(before);

      const real = await run(['gc', '--fleet', 'web', '--keep', '2', ...kind.graceArgs], { env });
      expect(real.code, real.stderr).toBe(0);
      expect(real.stdout).toMatch(/removed 2 objects \(\d+ B\) of 10 objects/);
      const gone = [objectKey(sha256(only('zz'))), flatObjectKey(sha256('legacy orphan\n'))];
      expect(await kind.keys()).toEqual(before.filter((k) => !gone.includes(k)));
      // every manifest is still there, zz's too, and the objects of r1..r6 (r5's in the older layout)
      for (const revision of REVISIONS) expect(await kind.keys()).toContain(`${revision}/manifest.json`);
      expect(await kind.keys()).toContain(flatObjectKey(sha256(only('r5'))));
      expect(await kind.keys()).toContain(young);

      // by --source, with the grace period over for the young object too: it goes, the fleet's revisions stay
      const again = await run(['gc', '--source', kind.source, '--keep', '2', '--grace-hours', '0', '--output', 'json'], { env });
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ removed: { objects: 1 }, referenced: { objects: 7 } });
      expect(await kind.keys()).not.toContain(young);
    }, SLOW);
  }

  it('says what is wrong with bad input (exit 2) and an unknown fleet (exit 1), and removes nothing', async () => {
    const { env } = await freshTable();
    const source = `file://${backend.artifacts}`;
    const cases: Array<[string[], number, RegExp]> = [
      [['gc', '--keep', '2'], 2, /say which source to collect: --fleet FLEET .* or --source/],
      [['gc', '--source', source], 2, /required option '--keep <n>'/],
      [['gc', '--source', source, '--keep', '0'], 2, /use a whole number from 1 to/],
      [['gc', '--source', source, '--keep', 'all'], 2, /use a whole number from 1 to/],
      [['gc', '--source', source, '--keep', '2', '--grace-hours', '-1'], 2, /use a number of hours, 0 or more/],
      [['gc', '--source', 'ftp://x/y', '--keep', '2'], 2, /source/],
      [['gc', '--fleet', 'web', '--source', source, '--keep', '2'], 2, /cannot be used with/],
      [['gc', '--fleet', 'nope', '--keep', '2'], 1, /there is no fleet named nope/],
    ];
    for (const [argv, code, message] of cases) {
      const result = await run(argv, { env });
      expect(result.code, `${argv.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toMatch(message);
    }
  });
});
