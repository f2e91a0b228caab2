/**
 * Generated codebases for publish and sync tests and the benchmark: many small files of varied sizes in nested
 * folders (like a PHP application), and a new revision that changes a given number of them.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { forEachLimited } from '../../controller/publish/concurrency.ts';

export function codebasePath(index: number): string {
  return `src/module-${String(index % 40).padStart(2, '0')}/part-${index % 7}/file-${String(index).padStart(5, '0')}.php`;
}

function content(index: number, version: number): string {
  // sizes from about 100 bytes to 8 kB, the same for a given index and version
  const repeat = 1 + ((index * 7919 + version * 104_729) % 90);
  return `<?php // file ${index}, version ${version}\n${'echo "fleetsync";\n'.repeat(repeat)}`;
}

/** Writes `files` files; every 50th is executable (mode 755). */
export async function writeCodebase(root: string, files: number): Promise<void> {
  const indexes = Array.from({ length: files }, (_, i) => i);
  await Promise.all([...new Set(indexes.map((i) => path.dirname(path.join(root, codebasePath(i)))))]
    .map((dir) => mkdir(dir, { recursive: true })));
  await forEachLimited(indexes, 32, async (i) => {
    await writeFile(path.join(root, codebasePath(i)), content(i, 1), { mode: i % 50 === 0 ? 0o755 : 0o644 });
  });
}

/** Rewrites `count` files spread over the codebase with new content; returns their paths and new sizes. */
export async function changeCodebase(root: string, args: { files: number; count: number; version: number }): Promise<Array<{ path: string; size: number }>> {
  const changed: Array<{ path: string; size: number }> = [];
  const step = Math.floor(args.files / args.count);
  for (let k = 0; k < args.count; k++) {
    const index = k * step + (args.version % step);
    const text = content(index, args.version);
    await writeFile(path.join(root, codebasePath(index)), text);
    changed.push({ path: codebasePath(index), size: Buffer.byteLength(text) });
  }
  return changed;
}

/** Every regular file under root: relative path -> sha256 and mode, for byte-for-byte comparisons. */
export async function treeDigest(root: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function visit(dir: string, rel: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (skip(relPath)) continue;
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) await visit(abs, relPath);
      else if (entry.isFile()) {
        const sha = createHash('sha256').update(await readFile(abs)).digest('hex');
        out[relPath] = `${sha} ${((await stat(abs)).mode & 0o777).toString(8)}`;
      } else out[relPath] = 'not a regular file';
    }
  }
  await visit(root, '');
  return out;
}
