/**
 * Benchmark: one host and a large published revision pair, and a store with a long history, from S3 (s3rver on
 * 127.0.0.1 behind the recording proxy: every response body the host's aws CLI received is counted).
 *
 *   node --openssl-legacy-provider --import tsx bench/largeSync.ts [--files 50000] [--changed 500]
 *        [--history 100] [--history-files 2000]
 *
 * Part 1, `--files` generated files (`--source file`: from a file:// folder instead, no listings) (codebase() of test/support/publishedRevision.ts), r2 with `--changed` of
 * them changed: a new host's first sync of r1, the update r1 -> r2, the rollback r2 -> r1 (r1 is kept), and
 * beside them `aws s3 sync` of r1 as a plain folder into an empty folder on the same machine.
 * Part 2: a host holding revision N-1 updates to N (1% of `--history-files` changed) in a source holding 2
 * published revisions, and in one holding `--history` (each 1% changed from the one before): the same cost.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Artifacts } from '../controller/aws/s3Artifacts.ts';
import { LocalArtifacts } from '../controller/local/localArtifacts.ts';
import { publishRevision } from '../controller/publish/publish.ts';
import { realClock } from '../controller/clock/realClock.ts';
import { forEachLimited } from '../controller/publish/concurrency.ts';
import { changeCodebase, codebase, writeCodebase } from '../test/support/publishedRevision.ts';
import { FAKE_CREDENTIALS, startS3rver } from '../test/support/s3rver.ts';
import { startRequestLog } from '../test/support/requestLog.ts';
import { runScript, syncArgs } from '../test/support/hostScript.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '50000' }, changed: { type: 'string', default: '' },
    history: { type: 'string', default: '100' }, 'history-files': { type: 'string', default: '2000' },
    source: { type: 'string', default: 's3' },
  },
});
const FILES = Number(values.files);
const CHANGED = values.changed ? Number(values.changed) : Math.round(FILES / 100);
const HISTORY = Number(values.history);
const HISTORY_FILES = Number(values['history-files']);
/** part 1 from s3 (the default) or from a file:// folder: the host's own work, without the object store's listings */
const FROM_FILE = values.source === 'file';

interface Measured { seconds: number; mb: string; listMb: string; requests: number; result: Record<string, unknown> }

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-large-'));
  const s3 = await startS3rver('bench');
  const proxy = await startRequestLog(s3.endpoint);
  const client = new S3Client({
    endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: FAKE_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const s3Store = new S3Artifacts({ client });
  const env = { ...s3.env, FLEETSYNC_S3_ENDPOINT_URL: proxy.endpoint, AWS_ENDPOINT_URL: proxy.endpoint, AWS_ENDPOINT_URL_S3: proxy.endpoint };
  const publish = async (dir: string, source: string, revision: string): Promise<number> => {
    const started = performance.now();
    const store = source.startsWith('file://') ? new LocalArtifacts() : s3Store;
    await publishRevision({ dir, source, revision, excludes: [], publishedBy: 'bench', clock: realClock, store });
    return (performance.now() - started) / 1000;
  };
  /** What the proxy served while `run` ran. */
  const measure = async (run: () => Promise<Record<string, unknown>>): Promise<Measured> => {
    proxy.clear();
    const started = performance.now();
    const result = await run();
    const seconds = Math.round((performance.now() - started) / 10) / 100;
    const mb = (b: number): string => (b / 1e6).toFixed(3);
    const lists = proxy.requests.filter((r) => r.query.includes('list-type'));
    return {
      seconds, requests: proxy.requests.length, result,
      mb: mb(proxy.requests.reduce((s, r) => s + r.responseBytes, 0)), listMb: mb(lists.reduce((s, r) => s + r.responseBytes, 0)),
    };
  };
  const sync = (source: string, revision: string, destination: string) => async (): Promise<Record<string, unknown>> => {
    await mkdir(destination, { recursive: true });
    const run = await runScript(syncArgs({ source, revision, destination, excludes: '' }), { env, timeoutMs: 3_600_000 });
    if (run.code !== 0) throw new Error(`sync ${revision}: ${run.stdout} ${run.stderr.slice(-800)}`);
    return run.result as unknown as Record<string, unknown>;
  };
  const row = (name: string, m: Measured): string => {
    const r = m.result;
    return `| ${name} | ${m.seconds} | ${m.mb} | ${m.listMb} | ${m.requests} | ${String(r.manifest ?? '-')} | `
      + `${String(r.manifestBytes ?? '-')} | ${String(r.downloadedFiles ?? '-')} | ${String(r.hashedFiles ?? '-')} |`;
  };
  const header = '| step | seconds | MB on the wire | of which listings | requests | manifest read | manifest/delta bytes | downloadedFiles | hashedFiles |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |';
  try {
    // Part 1 (--files 0 leaves it out)
    let changedBytes = 0;
    if (FILES > 0) {
      const r1 = path.join(work, 'build-r1');
      const r2 = path.join(work, 'build-r2');
      await writeCodebase(r1, FILES);
      await execPromise('cp', ['-a', r1, r2]);
      const changed = await changeCodebase(r2, { files: FILES, count: CHANGED, version: 2 });
      changedBytes = changed.reduce((s, c) => s + c.size, 0);
      const published = FROM_FILE ? `file://${path.join(work, 'published')}` : 's3://bench/published';
      const p1 = await publish(r1, published, 'r1');
      const p2 = await publish(r2, published, 'r2');
      const tree = codebase(FILES);
      if (!FROM_FILE) await forEachLimited(Object.keys(tree), 16, async (rel) => {
        await client.send(new PutObjectCommand({ Bucket: 'bench', Key: `plain/r1/${rel}`, Body: await readFile(path.join(r1, rel)) }));
      });
      const host = path.join(work, 'host');
      const first = await measure(sync(published, 'r1', host));
      const update = await measure(sync(published, 'r2', host));
      const rollback = await measure(sync(published, 'r1', host));
      const plainDir = path.join(work, 'aws-s3-sync');
      const awsSync = await measure(async () => {
        if (FROM_FILE) return {};
        await execPromise('aws', ['--endpoint-url', proxy.endpoint, 's3', 'sync', 's3://bench/plain/r1/', plainDir, '--only-show-errors', '--no-progress'], env);
        return {};
      });
      console.log(`${FILES} files (${(Object.values(tree).reduce((s: number, v) => s + (typeof v === 'object' && 'content' in v ? v.content.length : 0), 0) / 1e6).toFixed(2)} MB), `
        + `r2 changes ${CHANGED} of them (${(changedBytes / 1e6).toFixed(3)} MB); publish r1 ${p1.toFixed(1)} s, r2 ${p2.toFixed(1)} s`);
      console.log(header);
      console.log(row('new host, first sync of r1', first));
      console.log(row('update r1 -> r2 (1% changed)', update));
      console.log(row('rollback r2 -> r1 (kept)', rollback));
      if (!FROM_FILE) console.log(row('`aws s3 sync` of r1 as a plain folder, empty target', awsSync));
      // where the time of each run went, from the agent's own log
      console.log((await readFile(path.join(host, '.fleetsync', 'sync.log'), 'utf8')).trim().split('\n').map((l) => `    ${l}`).join('\n'));
      console.log(JSON.stringify({ files: FILES, changed: CHANGED, changedBytes, first, update, rollback, awsSync }));
      await rm(host, { recursive: true, force: true });
      await rm(plainDir, { recursive: true, force: true });
    }

    // Part 2 (--history 0 leaves it out)
    if (HISTORY < 2) return;
    const hist = path.join(work, 'build-history');
    await writeCodebase(hist, HISTORY_FILES);
    const step = Math.max(1, Math.round(HISTORY_FILES / 100));
    const startedHistory = performance.now();
    for (let v = 1; v <= HISTORY; v++) {
      if (v > 1) await changeCodebase(hist, { files: HISTORY_FILES, count: step, version: v });
      await publish(hist, 's3://bench/long', `v${v}`);
      // the short store gets the same last two revisions only
      if (v >= HISTORY - 1) await publish(hist, 's3://bench/short', `v${v}`);
    }
    const historySeconds = (performance.now() - startedHistory) / 1000;
    const results: Array<[string, Measured]> = [];
    for (const [name, source] of [['2 revisions', 's3://bench/short'], [`${HISTORY} revisions`, 's3://bench/long']] as const) {
      const dest = path.join(work, `host-${name.replace(' ', '-')}`);
      await sync(source, `v${HISTORY - 1}`, dest)();
      results.push([`update v${HISTORY - 1} -> v${HISTORY}, a store holding ${name}`, await measure(sync(source, `v${HISTORY}`, dest))]);
    }
    console.log(`\n${HISTORY_FILES} files, ${step} changed per revision; publishing ${HISTORY} revisions took ${historySeconds.toFixed(0)} s`);
    console.log(header);
    for (const [name, m] of results) console.log(row(name, m));
    console.log(JSON.stringify({ files: FILES, changed: CHANGED, changedBytes, history: results }));
  } finally {
    client.destroy();
    await proxy.stop();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function execPromise(file: string, args: string[], env: Record<string, string> = {}): Promise<unknown> {
  return promisify(execFile)(file, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
}

await main();
