/**
 * Artifacts.check for any ArtifactStore: the manifest when there is one (its size comes with it), else whether
 * the revision's folder holds files. One rule for S3 and local folders alike (state/manifest.ts describeRevision).
 */
import type { ArtifactCheck, ArtifactStore } from '../ports/artifacts.ts';
import { describeRevision } from '../../state/manifest.ts';

export async function checkStoredRevision(
  store: Pick<ArtifactStore, 'readManifest' | 'hasPlainFiles' | 'manifestUrl'>,
  args: { source: string; revision: string; where: string },
): Promise<ArtifactCheck> {
  const { source, revision, where } = args;
  const manifestText = await store.readManifest({ source, revision });
  const hasOtherFiles = manifestText === null ? await store.hasPlainFiles({ source, revision }) : false;
  return { where, ...describeRevision({ revision, manifestText, hasOtherFiles, where, manifestWhere: store.manifestUrl({ source, revision }) }) };
}
