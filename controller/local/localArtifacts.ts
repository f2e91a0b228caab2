/**
 * Artifacts in a local folder (`file:///path` sources: the embedded default and on-premises hosts): a revision
 * is there when `<path>/<revision>/` is a folder with at least one entry.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactCheck, Artifacts } from '../ports/artifacts.ts';
import { ControlPlaneError } from '../errors.ts';
import { assertValid, checkRevision, checkSource } from '../../state/validate.ts';

export class LocalArtifacts implements Artifacts {
  async check(args: { source: string; revision: string }): Promise<ArtifactCheck> {
    assertValid([checkSource(args.source, 'source'), checkRevision(args.revision, 'revision')]);
    if (!args.source.startsWith('file:///')) {
      throw new ControlPlaneError(`LocalArtifacts reads file:/// sources only, not ${args.source}`);
    }
    const where = path.join(fileURLToPath(args.source), args.revision);
    try {
      const entries = await readdir(where);
      return { exists: entries.length > 0, where };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // missing, or a file where a folder should be: the revision is not there
      if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false, where };
      throw new ControlPlaneError(`cannot read ${where}: ${(err as Error).message}`, { cause: err });
    }
  }
}
