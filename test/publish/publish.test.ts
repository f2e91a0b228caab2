/**
 * `fleetsync publish` end to end, through the CLI, into a file:/// source and into a local S3 (s3rver behind a
 * recording proxy, so what went over the wire is counted).
 */
import { mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FAKE_CREDENTIALS, startS3rver, type LocalS3 } from '../support/s3rver.ts';
import { startRequestLog, type RequestLog } from '../support/requestLog.ts';
import { changeCodebase, writeCodebase } from '../support/publishedRevision.ts';
import { makeTempDir } from '../support/hostScript.ts';
import { capture, run } from '../cli/cliHarness.ts';
import { sha256File } from '../../controller/publish/hashing.ts';
import { parseManifest } from '../../state/manifest.ts';

const FILES = 2000;
const CHANGED = 20; // 1%

interface Summary {
  revision: string; files: number; bytes: number; uploadedObjects: number; uploadedBytes: number; seconds: number;
  alreadyPublished: boolean; manifest: string;
}

/** The object files under <source>/objects/, each at objects/ab/<sha256> (relative paths). */
async function objectFiles(sourceDir: string): Promise<string[]> {
  const root = path.join(sourceDir, 'objects');
  return (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

async function publish(args: string[], env: Record<string, string> = {}): Promise<{ code: number; summary: Summary; stderr: string }> {
  const result = await run(['publish', ...args, '--output', 'json'], { env });
  expect(result.code, result.stderr).toBe(0);
  return { code: result.code, summary: JSON.parse(result.stdout) as Summary, stderr: result.stderr };
}

describe('publish to a file:/// source', () => {
  let tmp: { path: string; remove(): Promise<void> };
  let build: string;
  let sourceDir: string;
  let source: string;
  beforeAll(async () => {
    tmp = await makeTempDir('publish-file');
    build = path.join(tmp.path, 'build');
    sourceDir = path.join(tmp.path, 'source');
    source = `file://${sourceDir}`;
    await writeCodebase(build, FILES);
  });
  afterAll(() => tmp.remove());

  it('uploads every content once, then only the 1% that changed; the same content again is a no-op; other content is refused', async () => {
    const first = await publish([build, '--source', source, '--revision', 'r1']);
    expect(first.summary).toMatchObject({ revision: 'r1', files: FILES, uploadedObjects: FILES, alreadyPublished: false });
    expect(first.summary.uploadedBytes).toBe(first.summary.bytes);
    const objects = await objectFiles(sourceDir);
    expect(objects).toHaveLength(FILES);
    for (const key of objects) expect(key).toMatch(/^([0-9a-f]{2})\/\1[0-9a-f]{62}$/);

    const changed = await changeCodebase(build, { files: FILES, count: CHANGED, version: 2 });
    const second = await publish([build, '--source', source, '--revision', 'r2']);
    expect(second.summary).toMatchObject({ revision: 'r2', files: FILES, uploadedObjects: CHANGED, alreadyPublished: false });
    expect(second.summary.uploadedBytes).toBe(changed.reduce((sum, c) => sum + c.size, 0));
    expect(await objectFiles(sourceDir)).toHaveLength(FILES + CHANGED);

    // the manifest lists every file with the hash, size and mode it has in the build folder
    const manifestFile = path.join(sourceDir, 'r2', 'manifest.json');
    const manifestText = await readFile(manifestFile, 'utf8');
    const manifest = parseManifest(manifestText, manifestFile);
    expect(manifest.totals.files).toBe(FILES);
    const sample = manifest.files.find((f) => f.path === 'src/module-0/part-0/file-0.php')!;
    expect(sample.sha256).toBe(await sha256File(path.join(build, sample.path)));
    expect(sample.mode).toBe('755');
    expect(manifest.publishedBy).toBe('tester@testhost');

    const again = await publish([build, '--source', source, '--revision', 'r2']);
    expect(again.summary).toMatchObject({ alreadyPublished: true, uploadedObjects: 0, uploadedBytes: 0 });
    expect(await readFile(manifestFile, 'utf8')).toBe(manifestText);

    await writeFile(path.join(build, 'src/module-3/part-3/file-3.php'), 'edited after publishing');
    const refused = await run(['publish', build, '--source', source, '--revision', 'r2']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('revision r2 is already published');
    expect(refused.stderr).toContain('1 files differ: src/module-3/part-3/file-3.php');
    expect(refused.stderr).toContain('publish this build under a new revision name');
    expect(await readFile(manifestFile, 'utf8')).toBe(manifestText);
    expect(await objectFiles(sourceDir)).toHaveLength(FILES + CHANGED);
  });

  it('refuses to reuse the name of a plain-folder revision', async () => {
    await mkdir(path.join(sourceDir, 'plain'), { recursive: true });
    await writeFile(path.join(sourceDir, 'plain', 'index.php'), 'x');
    const refused = await run(['publish', build, '--source', source, '--revision', 'plain']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/revision plain already exists in file:\/\/.* as a plain folder/);
  });
});

// 400 files here: s3rver takes ~5 ms a PUT, and the 2,000-file case runs on file:/// above and in the host tests
const S3_FILES = 400;
const S3_CHANGED = 4; // 1%

describe('publish to S3 (s3rver)', () => {
  let s3: LocalS3;
  let log: RequestLog;
  let tmp: { path: string; remove(): Promise<void> };
  let build: string;
  let env: Record<string, string>;
  const source = (): string => `s3://${s3.bucket}/web`;
  const puts = (folder: string): number => log.requests.filter((r) => r.method === 'PUT' && r.path.startsWith(`/${s3.bucket}/web/${folder}`)).length;

  beforeAll(async () => {
    s3 = await startS3rver();
    log = await startRequestLog(s3.endpoint);
    tmp = await makeTempDir('publish-s3');
    build = path.join(tmp.path, 'build');
    await writeCodebase(build, S3_FILES);
    env = {
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: log.endpoint, AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true',
      // s3rver predates the SDK's default CRC32 request checksums
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED', AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    };
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await log.stop();
    await s3.stop();
    await tmp.remove();
  });

  it('puts only the objects S3 lacks, then the manifest; a second identical publish puts nothing', async () => {
    const first = await publish([build, '--source', source(), '--revision', 'r1'], env);
    expect(first.summary).toMatchObject({ files: S3_FILES, uploadedObjects: S3_FILES, manifest: `s3://${s3.bucket}/web/r1/manifest.json` });
    expect(puts('objects/')).toBe(S3_FILES);
    expect(puts('r1/manifest.json')).toBe(1);

    log.clear();
    const changed = await changeCodebase(build, { files: S3_FILES, count: S3_CHANGED, version: 2 });
    const second = await publish([build, '--source', source(), '--revision', 'r2'], env);
    expect(second.summary).toMatchObject({ uploadedObjects: S3_CHANGED, uploadedBytes: changed.reduce((s, c) => s + c.size, 0) });
    expect(puts('objects/')).toBe(S3_CHANGED);
    expect(puts('r2/manifest.json')).toBe(1);
    const sent = log.requests.filter((r) => r.method === 'PUT' && r.path.includes('/objects/')).reduce((s, r) => s + r.requestBytes, 0);
    expect(sent).toBe(second.summary.uploadedBytes);

    log.clear();
    const again = await publish([build, '--source', source(), '--revision', 'r2'], env);
    expect(again.summary.alreadyPublished).toBe(true);
    expect(log.requests.filter((r) => r.method === 'PUT')).toHaveLength(0);

    await writeFile(path.join(build, 'src/module-0/part-0/file-0.php'), 'other content');
    log.clear();
    const refused = await run(['publish', build, '--source', source(), '--revision', 'r2'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('revision r2 is already published at s3://');
    expect(log.requests.filter((r) => r.method === 'PUT')).toHaveLength(0);
  });
});

describe('publish input and output', () => {
  let tmp: { path: string; remove(): Promise<void> };
  beforeAll(async () => {
    tmp = await makeTempDir('publish-input');
    await writeCodebase(path.join(tmp.path, 'build'), 30);
  });
  afterAll(() => tmp.remove());

  it('refuses bad input with exit 2 before writing anything', async () => {
    const build = path.join(tmp.path, 'build');
    const source = `file://${tmp.path}/source`;
    const cases: Array<[string[], RegExp]> = [
      [[path.join(tmp.path, 'nope'), '--source', source, '--revision', 'r1'], /is not a folder/],
      [[build, '--revision', 'r1'], /--fleet FLEET .* or --source/],
      [[build, '--source', source, '--fleet', 'web', '--revision', 'r1'], /cannot be used with/],
      [[build, '--source', source, '--revision', '../r1'], /--revision "..\/r1" is not valid/],
      [[build, '--source', source, '--revision', 'objects'], /the revision name "objects" is reserved/],
      [[build, '--source', 'http://example.com/x', '--revision', 'r1'], /--source/],
      [[build, '--source', source, '--revision', 'r1', '--exclude', '/abs/*'], /--exclude "\/abs\/\*" must be relative/],
    ];
    for (const [args, message] of cases) {
      const result = await run(['publish', ...args]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    await expect(stat(path.join(tmp.path, 'source'))).rejects.toThrow();
  });

  it('refuses a path the host script could not take, naming it; leaves out symlinks and excluded paths', async () => {
    const build = path.join(tmp.path, 'odd');
    await writeCodebase(build, 3);
    await writeFile(path.join(build, 'back\\slash.php'), 'x');
    const source = `file://${tmp.path}/odd-source`;
    const refused = await run(['publish', build, '--source', source, '--revision', 'r1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('cannot publish "back\\\\slash.php": the path holds a quote, backslash or control character');
    await rm(path.join(build, 'back\\slash.php'));

    await symlink('/etc/passwd', path.join(build, 'passwd'));
    await writeFile(path.join(build, 'debug.log'), 'x');
    const published = await run(['publish', build, '--source', source, '--revision', 'r1', '--exclude', '*.log', '-o', 'json']);
    expect(published.code, published.stderr).toBe(0);
    expect(published.stderr).toContain('left out 1 symlinks or special files (publish never follows symlinks): passwd');
    const manifest = await readFile(path.join(tmp.path, 'odd-source', 'r1', 'manifest.json'), 'utf8');
    expect(manifest).not.toContain('passwd');
    expect(manifest).not.toContain('debug.log');
    expect(JSON.parse(published.stdout)).toMatchObject({ files: 3, excluded: 1, skipped: ['passwd'] });
  });

  it('draws a progress bar on a terminal, and nothing but the summary when piped', async () => {
    const build = path.join(tmp.path, 'build');
    const tty = capture({ isTTY: true });
    const onTerminal = await run(['publish', build, '--source', `file://${tmp.path}/tty`, '--revision', 'r1'], { stderr: tty });
    expect(onTerminal.code).toBe(0);
    expect(tty.text).toContain('\r\x1b[2Khashing   [');
    expect(tty.text).toMatch(/hashing {3}\[#*-*\] \d+\/30 files/);
    expect(tty.text).toMatch(/uploading \[#+\] 30\/30 files/);
    expect(onTerminal.stdout).toMatch(/^published revision r1 \(30 files, [\d.]+ kB\): uploaded 30 new objects/);
    const piped = await run(['publish', build, '--source', `file://${tmp.path}/piped`, '--revision', 'r1']);
    expect(piped.stderr).toBe('');
  });
});
