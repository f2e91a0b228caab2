/** The Artifacts port over a set of revision names. */
import type { ArtifactCheck, Artifacts } from '../ports/artifacts.ts';
import type { SimWorld } from './simWorld.ts';

export class SimArtifacts implements Artifacts {
  constructor(private readonly world: SimWorld, private readonly revisions: Set<string>) {}

  check(args: { source: string; revision: string }): Promise<ArtifactCheck> {
    this.world.request('ListObjectsV2');
    return Promise.resolve({ exists: this.revisions.has(args.revision), where: `${args.source}/${args.revision}/` });
  }
}
