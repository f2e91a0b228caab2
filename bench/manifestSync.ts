/**
 * Benchmark: 10 local hosts move from a 2,000-file revision to one with 1% of its files changed, four ways —
 * a published revision (manifest + content-addressed objects; r2 published with a delta from r1) and a plain folder
 * per revision, each from a file:// folder and from S3 (s3rver on 127.0.0.1). Prints what moved and how long it took.
 *
 *   node --openssl-legacy-provider --import tsx bench/manifestSync.ts [--hosts 10] [--files 2000] [--changed 20]
 *
 * Bytes moved: for S3, the response bytes of every request the proxy in front of s3rver served to the hosts
 * (listings included, and shown apart: "list MB"); "requests" counts them all. For file:///, what the host agent
 * reports it wrote (downloadedBytes). Seconds: wall time of the step, all hosts at once, as one rollout wave of
 * maxUnavailable 100%.
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

interface Step { seconds: number; bytes: number; listBytes: number; requests: number; manifestBytes: number; how: string }
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
    const changed = await changeCodebase(builds.r2, { files: FILES, count: CHANGED, version: 2 });
    const changedBytes = changed.reduce((sum, c) => sum + c.size, 0);

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
          return run.result as { downloadedBytes?: number; manifest?: string; manifestBytes?: number };
        }));
        const seconds = (performance.now() - started) / 1000;
        const served = proxy.requests;
        const listings = served.filter((r) => r.query.includes('list-type'));
        const bytes = c.source === 'S3'
          ? served.reduce((sum, r) => sum + r.responseBytes, 0)
          : results.reduce((sum, r) => sum + (r.downloadedBytes ?? 0), 0);
        return {
          seconds: Math.round(seconds * 100) / 100, bytes, requests: served.length,
          listBytes: listings.reduce((sum, r) => sum + r.responseBytes, 0),
          manifestBytes: results.reduce((sum, r) => sum + (r.manifestBytes ?? 0), 0),
          how: [...new Set(results.map((r) => r.manifest ?? 'plain'))].join('+'),
        };
      };
      const first = await step('r1');
      const second = await step('r2');
      rows.push({ source: c.source, layout: c.layout, first, second });
      await rm(hostsDir, { recursive: true, force: true });
    }

    const mb = (b: number): string => (b / 1e6).toFixed(3);
    console.log(`${HOSTS} hosts, ${FILES} files, ${CHANGED} changed (${((CHANGED / FILES) * 100).toFixed(1)}%), changed content ${mb(changedBytes)} MB a host`);
    console.log('| source | layout | step | manifest read | seconds | MB on the wire | of which listings | of which manifests/deltas | requests |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      for (const [name, st] of [['r1 (first sync)', r.first], ['r2 (1% changed)', r.second]] as const) {
        console.log(`| ${r.source} | ${r.layout} | ${name} | ${st.how} | ${st.seconds} | ${mb(st.bytes)} | `
          + `${r.source === 'S3' ? mb(st.listBytes) : '-'} | ${mb(st.manifestBytes)} | ${r.source === 'S3' ? st.requests : '-'} |`);
      }
    }
    console.log(JSON.stringify({ hosts: HOSTS, files: FILES, changed: CHANGED, changedBytes, rows }));
  } finally {
    client.destroy();
    await proxy.stop();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
