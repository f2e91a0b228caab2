/**
 * What the CLI end-to-end tests stand on: dynalite with the process's AWS settings pointed at it (AWS mode, as
 * an operator's environment would be), and a folder of revisions for `file://` sources.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { vi } from 'vitest';
import { startDynalite, stubAwsEnvFor, type Dynalite } from './dynalite.ts';

export interface CliBackend {
  db: Dynalite;
  /** a temporary folder for the test's files */
  dir: string;
  /** `<dir>/artifacts`: one folder per revision, each with an index.php naming it */
  artifacts: string;
  stop(): Promise<void>;
}

export async function startCliBackend(options: { prefix: string; revisions: string[] }): Promise<CliBackend> {
  const db = await startDynalite();
  stubAwsEnvFor(db, vi.stubEnv);
  const dir = await mkdtemp(path.join(os.tmpdir(), `fleetsync-${options.prefix}-`));
  const artifacts = path.join(dir, 'artifacts');
  for (const rev of options.revisions) {
    await mkdir(path.join(artifacts, rev), { recursive: true });
    await writeFile(path.join(artifacts, rev, 'index.php'), `<?php echo "${rev}";\n`);
  }
  return {
    db, dir, artifacts,
    stop: async () => {
      vi.unstubAllEnvs();
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
