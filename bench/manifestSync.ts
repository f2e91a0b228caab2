/**
 * Benchmark: 10 local hosts move from a 2,000-file revision to one with 1% of its files changed, four ways —
 * a published revision (manifest + content-addressed objects) and a plain folder per revision, each from a
 * file:/// folder and from S3 (s3rver on 127.0.0.1). Prints what moved and how long it took.
 *
 *   node --openssl-legacy-provider --import tsx bench/manifestSync.ts [--hosts 10] [--files 2000] [--changed 20]
 *
 * Bytes moved: for S3, the response bytes of every GetObject the proxy in front of s3rver served to the hosts;
 * for file:///, what the host script reports it wrote (downloadedBytes for a manifest, rsync's changed bytes for
 * a plain folder). Seconds: wall time of the step, all hosts at once, as one rollout wave of maxUnavailable 100%.
 */
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Artifacts } from '../controller/aws/s3Artifacts.ts';
import { LocalArtifacts } from '../controller/local/localArtifacts.ts';
import { publishRevision } from '../controller/publish/publish.ts';
import { realClock } from '../controller/clock/realClock.ts';
import { forEachLimited } from '../controller/publish/concurrency.ts';
import { changeCodebase, writeCodebase } from '../test/support/publishedRevision.ts';
import { FAKE_CREDENTIALS, startS3rver } from '../test/support/s3rver.ts';
import { startRequestLog } from '../test/support/requestLog.ts';
import { runScript, syncArgs } from '../test/support/hostScript.ts';

// The Contract pins Node 20: the SDK's "Node 22 soon" warning would bury the table.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values } = parseArgs({
  options: { hosts: { type: 'string', default: '10' }, files: { type: 'string', default: '2000' }, changed: { type: 'string', default: '20' } },
});
const HOSTS = Number(values.hosts);
const FILES = Number(values.files);
const CHANGED = Number(values.changed);

interface Step { seconds: number; bytes: number; files: number }
interface Row { source: string; layout: string; first: Step; second: Step }

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function visit(dir: string, rel: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(path.join(dir, e.name), r);
      else out.push(r);
    }
  }
  await visit(root, '');
  return out;
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-bench-'));
  const s3 = await startS3rver('bench');
  const proxy = await startRequestLog(s3.endpoint);
  const client = new S3Client({
    endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: FAKE_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const env = { ...s3.env, FLEETSYNC_S3_ENDPOINT_URL: proxy.endpoint, AWS_ENDPOINT_URL: proxy.endpoint, AWS_ENDPOINT_URL_S3: proxy.endpoint };
  try {
    const builds = { r1: path.join(work, 'build-r1'), r2: path.join(work, 'build-r2') };
    await writeCodebase(builds.r1, FILES);
    await cp(builds.r1, builds.r2, { recursive: true });
    await changeCodebase(builds.r2, { files: FILES, count: CHANGED, version: 2 });

    // the four sources, filled before anything is timed
    const fileManifest = `file://${path.join(work, 'published')}`;
    const filePlain = path.join(work, 'plain');
    const s3Manifest = 's3://bench/published';
    const s3Plain = 's3://bench/plain';
    for (const rev of ['r1', 'r2'] as const) {
      const common = { dir: builds[rev], revision: rev, excludes: [], publishedBy: 'bench', clock: realClock };
      await publishRevision({ ...common, source: fileManifest, store: new LocalArtifacts() });
      await publishRevision({ ...common, source: s3Manifest, store: new S3Artifacts({ client }) });
      await cp(builds[rev], path.join(filePlain, rev), { recursive: true });
      await forEachLimited(await listFiles(builds[rev]), 16, async (rel) => {
        await client.send(new PutObjectCommand({ Bucket: 'bench', Key: `plain/${rev}/${rel}`, Body: await readFile(path.join(builds[rev], rel)) }));
      });
    }

    const rows: Row[] = [];
    const cases = [
      { source: 'S3', layout: 'published (manifest)', url: s3Manifest },
      { source: 'S3', layout: 'plain folder', url: s3Plain },
      { source: 'file://', layout: 'published (manifest)', url: fileManifest },
      { source: 'file://', layout: 'plain folder', url: `file://${filePlain}` },
    ];
    for (const c of cases) {
      const hostsDir = path.join(work, `hosts-${rows.length}`);
      const step = async (revision: string): Promise<Step> => {
        proxy.clear();
        const started = performance.now();
        const results = await Promise.all(Array.from({ length: HOSTS }, async (_, i) => {
          const destination = path.join(hostsDir, `i-${String(i).padStart(17, '0')}`);
          await mkdir(destination, { recursive: true });
          const run = await runScript(syncArgs({ source: c.url, revision, destination, excludes: '' }), { env, timeoutMs: 600_000 });
          if (run.code !== 0) throw new Error(`${c.source} ${c.layout} ${revision}: ${run.stdout} ${run.stderr.slice(-500)}`);
          return run.result as { files?: number; bytes?: number; downloadedBytes?: number; downloadedFiles?: number };
        }));
        const seconds = (performance.now() - started) / 1000;
        const gets = proxy.requests.filter((r) => r.method === 'GET' && !r.query.includes('list-type'));
        const bytes = c.source === 'S3'
          ? gets.reduce((s, r) => s + r.responseBytes, 0)
          : results.reduce((s, r) => s + (r.downloadedBytes ?? r.bytes ?? 0), 0);
        const files = c.source === 'S3' ? gets.length : results.reduce((s, r) => s + (r.downloadedFiles ?? r.files ?? 0), 0);
        return { seconds: Math.round(seconds * 100) / 100, bytes, files };
      };
      const first = await step('r1');
      const second = await step('r2');
      rows.push({ source: c.source, layout: c.layout, first, second });
      await rm(hostsDir, { recursive: true, force: true });
    }

    const mb = (b: number): string => (b / 1e6).toFixed(2);
    console.log(`${HOSTS} hosts, ${FILES} files, ${CHANGED} changed (${((CHANGED / FILES) * 100).toFixed(1)}%)`);
    console.log('source   layout                 r1 (first sync): s   MB     objects | r2 (1% changed): s   MB     objects');
    for (const r of rows) {
      console.log(`${r.source.padEnd(8)} ${r.layout.padEnd(22)} ${String(r.first.seconds).padStart(20)} ${mb(r.first.bytes).padStart(6)} ${String(r.first.files).padStart(7)} | `
        + `${String(r.second.seconds).padStart(16)} ${mb(r.second.bytes).padStart(6)} ${String(r.second.files).padStart(7)}`);
    }
    console.log(JSON.stringify({ hosts: HOSTS, files: FILES, changed: CHANGED, rows }));
  } finally {
    client.destroy();
    await proxy.stop();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
