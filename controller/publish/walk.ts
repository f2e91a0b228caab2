/**
 * The files of a build folder, as `fleetsync publish` sees them: regular files only, symlinks never followed
 * (as `aws s3 sync --no-follow-symlinks`), excluded paths left out, paths the host script could not take refused.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { excludeMatcher } from '../../state/excludes.ts';
import { checkManifestPath, compareManifestPaths } from '../../state/manifest.ts';

export interface WalkedFile {
  /** relative, `/`-separated */
  path: string;
  absolute: string;
  size: number;
  mode: number;
}

export interface Walk {
  files: WalkedFile[];
  /** symlinks and other non-regular entries (sockets, fifos, devices) left out */
  skipped: string[];
  /** paths no manifest can hold, with why */
  refused: string[];
  excluded: number;
}

export async function walkTree(root: string, excludes: readonly string[]): Promise<Walk> {
  const match = excludeMatcher(excludes);
  const out: Walk = { files: [], skipped: [], refused: [], excluded: 0 };
  async function visit(dir: string, rel: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const absolute = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (match.folder(relPath)) out.excluded += 1;
        else await visit(absolute, relPath);
        continue;
      }
      if (match.file(relPath)) {
        out.excluded += 1;
        continue;
      }
      if (!entry.isFile()) {
        out.skipped.push(relPath);
        continue;
      }
      const problem = checkManifestPath(relPath);
      if (problem) {
        out.refused.push(`${JSON.stringify(relPath)}: ${problem}`);
        continue;
      }
      const info = await lstat(absolute);
      out.files.push({ path: relPath, absolute, size: info.size, mode: info.mode });
    }
  }
  await visit(root, '');
  out.files.sort((a, b) => compareManifestPaths(a.path, b.path));
  return out;
}
