/**
 * Published revisions for the host script tests: a local tree becomes `<source>/<revision>/manifest.json` over
 * `<source>/objects/ab/<sha256>` (the layout `fleetsync publish` writes; `layout: 'flat'` gives the older
 * `<source>/objects/<sha256>`), in a file:// folder or in a bucket (s3rver). Also a generated codebase, the tree as files on disk (the "published folder"), and a digest of a
 * folder for byte-for-byte comparisons.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  MANIFEST_FILE, buildManifest, flatObjectKey, modeString, objectKey, renderManifest, type Manifest,
} from '../../state/manifest.ts';
import { makeTempDir } from './hostScript.ts';
import { startRequestLog, type RequestLog } from './requestLog.ts';
import { FAKE_CREDENTIALS, startS3rver } from './s3rver.ts';

/** relative path -> content (mode 644), or content and mode */
export type Tree = Record<string, string | Buffer | { content: string | Buffer; mode: number }>;

function entry(value: Tree[string]): { content: Buffer; mode: number } {
  if (typeof value === 'string' || Buffer.isBuffer(value)) return { content: Buffer.from(value), mode: 0o644 };
  return { content: Buffer.from(value.content), mode: value.mode };
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** The tree's manifest and its objects (sha256 -> content). */
export function manifestOf(revision: string, tree: Tree): { manifest: Manifest; text: string; objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const files = Object.entries(tree).map(([path, value]) => {
    const { content, mode } = entry(value);
    const sha = sha256(content);
    objects.set(sha, content);
    return { path, sha256: sha, size: content.length, mode: modeString(mode) };
  });
  const manifest = buildManifest({ revision, publishedBy: 'test@host', publishedAt: '2024-01-01T00:00:00.000Z', files });
  return { manifest, text: renderManifest(manifest), objects };
}

export interface PublishOptions {
  /** the manifest text to write instead of the tree's (for malformed or lying manifests) */
  text?: string;
  /** upload the objects but no manifest, as a publish that was interrupted does */
  withoutManifest?: boolean;
  /** where objects go: objects/ab/<sha256> (default), or objects/<sha256> as publishes before sharding wrote them */
  layout?: 'sharded' | 'flat';
}

/** An object's key relative to the source, in the layout asked for. */
export function keyOf(sha: string, layout: PublishOptions['layout'] = 'sharded'): string {
  return layout === 'flat' ? flatObjectKey(sha) : objectKey(sha);
}

/** Runs fn over items, `width` at a time (thousands of small files). */
async function inBatches<T>(items: T[], fn: (item: T) => Promise<void>, width = 64): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** Publishes into a folder (the source is file://<root>); returns the manifest and its objects. */
export async function publishToFolder(root: string, revision: string, tree: Tree, options: PublishOptions = {}): Promise<ReturnType<typeof manifestOf>> {
  const published = manifestOf(revision, tree);
  await inBatches([...published.objects], async ([sha, content]) => {
    const file = join(root, keyOf(sha, options.layout));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  });
  if (!options.withoutManifest) {
    await mkdir(join(root, revision), { recursive: true });
    await writeFile(join(root, revision, MANIFEST_FILE), options.text ?? published.text);
  }
  return published;
}

export interface Bucket {
  client: S3Client;
  bucket: string;
  put(key: string, body: string | Buffer): Promise<void>;
}

export function bucketClient(endpoint: string, bucket: string): Bucket {
  const client = new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true, credentials: FAKE_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return {
    client,
    bucket,
    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
  };
}

/** Publishes under s3://<bucket>/<prefix>; objects already uploaded by an earlier publish are skipped. */
export async function publishToS3(bucket: Bucket, prefix: string, revision: string, tree: Tree, options: PublishOptions & { uploaded?: Set<string> } = {}): Promise<ReturnType<typeof manifestOf>> {
  const published = manifestOf(revision, tree);
  const pending = [...published.objects].filter(([sha]) => !options.uploaded?.has(sha));
  await inBatches(pending, async ([sha, content]) => {
    await bucket.put(`${prefix}/${keyOf(sha, options.layout)}`, content);
    options.uploaded?.add(sha);
  });
  if (!options.withoutManifest) await bucket.put(`${prefix}/${revision}/${MANIFEST_FILE}`, options.text ?? published.text);
  return published;
}

/** Writes the tree as files with their modes (what was published, to compare a release with). */
export async function writeTreeFiles(root: string, tree: Tree): Promise<void> {
  const entries = Object.entries(tree);
  for (const dir of new Set(entries.map(([path]) => dirname(join(root, path))))) await mkdir(dir, { recursive: true });
  await inBatches(entries, async ([path, value]) => {
    const { content, mode } = entry(value);
    await writeFile(join(root, path), content);
    await chmod(join(root, path), mode);
  });
}

/** What folderDigest gives for the tree written out as files. */
export function treeDigest(tree: Tree): Record<string, string> {
  return Object.fromEntries(Object.entries(tree).map(([path, value]) => {
    const { content, mode } = entry(value);
    return [path, `${sha256(content)} ${modeString(mode)}`];
  }));
}

/** Every entry under root: relative path -> "sha256 mode" for files, "link" or "other" for the rest. */
export async function folderDigest(root: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const item of await readdir(root, { withFileTypes: true, recursive: true })) {
    const abs = join(item.parentPath, item.name);
    const rel = relative(root, abs);
    if (skip(rel) || item.isDirectory()) continue;
    if (item.isFile()) out[rel] = `${sha256(await readFile(abs))} ${modeString((await stat(abs)).mode)}`;
    else out[rel] = item.isSymbolicLink() ? 'link' : 'other';
  }
  return out;
}

/**
 * A codebase of `count` small files of varied sizes in nested folders, every 50th executable, plus a few
 * names with spaces and UTF-8; `version` changes the content of the files `changed` lists.
 */
export function codebase(count: number, changed: Iterable<number> = [], version = 2): Tree {
  const bump = new Set(changed);
  const tree: Tree = {};
  for (let i = 0; i < count; i++) {
    const v = bump.has(i) ? version : 1;
    const path = i % 500 === 7 ? `docs/read me ${i} ü.txt` : `src/module-${i % 40}/part-${i % 7}/file-${i}.php`;
    const content = `<?php // file ${i}, version ${v}\n${'echo "fleetsync";\n'.repeat(1 + ((i * 7919 + v * 104_729) % 60))}`;
    tree[path] = { content, mode: i % 50 === 0 ? 0o755 : 0o644 };
  }
  return tree;
}

/**
 * Both sources for host script tests: a file:// folder and a bucket in s3rver, with the host script's aws CLI
 * going through a recording proxy (uploads go straight to s3rver and are not counted).
 */
export interface PublishedSources {
  tmp: string;
  bucket: Bucket;
  proxy: RequestLog;
  /** for the host script: fake credentials, the proxy as the endpoint */
  env: Record<string, string>;
  folder: string;
  fileSource: string;
  s3Source(prefix: string): string;
  /** publishes into both sources (the folder, and s3://<bucket>/<prefix>); remembers the tree */
  publish(revision: string, tree: Tree, prefix?: string, layout?: PublishOptions['layout']): Promise<void>;
  /** what was published under a revision, as folderDigest gives it for a release */
  digest(revision: string): Record<string, string>;
  /** the sha256 names of the objects the proxy served under <prefix>/objects/ (either layout) */
  objectGets(prefix?: string): string[];
  /** a fresh destination folder */
  newDest(): string;
  stop(): Promise<void>;
}

export async function startPublishedSources(name: string): Promise<PublishedSources> {
  const dir = await makeTempDir(name);
  const s3 = await startS3rver();
  const proxy = await startRequestLog(s3.endpoint);
  const bucket = bucketClient(s3.endpoint, s3.bucket);
  const folder = join(dir.path, 'source');
  /** per prefix: the objects uploaded under it */
  const uploaded = new Map<string, Set<string>>();
  const trees: Record<string, Tree> = {};
  let hosts = 0;
  return {
    tmp: dir.path,
    bucket,
    proxy,
    env: { ...s3.env, AWS_ENDPOINT_URL: proxy.endpoint, AWS_ENDPOINT_URL_S3: proxy.endpoint, FLEETSYNC_S3_ENDPOINT_URL: proxy.endpoint },
    folder,
    fileSource: `file://${folder}`,
    s3Source: (prefix) => `s3://${s3.bucket}/${prefix}`,
    async publish(revision, tree, prefix = 'web', layout = 'sharded') {
      trees[revision] = tree;
      await publishToFolder(folder, revision, tree, { layout });
      if (!uploaded.has(prefix)) uploaded.set(prefix, new Set());
      await publishToS3(bucket, prefix, revision, tree, { uploaded: uploaded.get(prefix) as Set<string>, layout });
    },
    digest: (revision) => treeDigest(trees[revision] as Tree),
    objectGets: (prefix = 'web') => proxy.requests
      .filter((r) => r.method === 'GET' && r.path.startsWith(`/${s3.bucket}/${prefix}/objects/`))
      .map((r) => r.path.slice(r.path.lastIndexOf('/') + 1)),
    newDest: () => join(dir.path, `host${++hosts}`),
    async stop() {
      bucket.client.destroy();
      await proxy.stop();
      await s3.stop();
      await dir.remove();
    },
  };
}

/** Writes codebase(files) under root (the build folder of a first revision). */
export async function writeCodebase(root: string, files: number): Promise<void> {
  await writeTreeFiles(root, codebase(files));
}

/**
 * Rewrites `count` files spread evenly over codebase(files) with their content at `version` (a build that
 * changed them); returns their paths and new sizes.
 */
export async function changeCodebase(root: string, args: { files: number; count: number; version: number }): Promise<Array<{ path: string; size: number }>> {
  const step = Math.floor(args.files / args.count);
  const indexes = Array.from({ length: args.count }, (_, k) => k * step + (args.version % step));
  const next = codebase(args.files, indexes, args.version);
  const paths = Object.keys(next);
  const changed: Tree = Object.fromEntries(indexes.map((i) => [paths[i] as string, next[paths[i] as string] as Tree[string]]));
  await writeTreeFiles(root, changed);
  return Object.entries(changed).map(([path, value]) => ({ path, size: entry(value).content.length }));
}
