/** The controller looks at each rollout's revision once: a published revision's size goes in status and history. */
import { describe, expect, it } from 'vitest';
import { startSimController } from '../support/simController.ts';
import type { ArtifactCheck, Artifacts } from '../../controller/ports/artifacts.ts';

class ScriptedArtifacts implements Artifacts {
  readonly checked: string[] = [];
  constructor(private readonly answers: Record<string, ArtifactCheck | Error>) {}

  check(args: { source: string; revision: string }): Promise<ArtifactCheck> {
    this.checked.push(args.revision);
    const answer = this.answers[args.revision];
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve(answer ?? { exists: false, where: `${args.source}/${args.revision}/` });
  }
}

describe('revision size', () => {
  it('records a published revision\'s size on the rollout and in its history event, checking once per rollout', async () => {
    const artifacts = new ScriptedArtifacts({
      v1: { exists: true, kind: 'prefix', where: 's3://bucket/app/v1/' },
      v2: { exists: true, kind: 'manifest', files: 2000, bytes: 1_734_567, where: 's3://bucket/app/v2/' },
      v3: { exists: false, where: 's3://bucket/app/v3/', problem: 'revision v3 has no manifest.json and no files at s3://bucket/app/v3/' },
      v4: new Error('AccessDenied'),
    });
    const t = startSimController({ hosts: 4, revision: 'v1', syncMs: 10_000, artifacts });
    let generation = (await t.store.putFleetSpec({ name: 'web', spec: t.spec('v1'), expectedGeneration: 0, nowMs: 0 })).generation;
    await t.advance(60_000);
    for (const revision of ['v2', 'v3', 'v4']) {
      generation = (await t.store.putFleetSpec({ name: 'web', spec: t.spec(revision), expectedGeneration: generation, nowMs: t.clock.nowMs() })).generation;
      await t.advance(revision === 'v2' ? 300_000 : 30_000);
      if (revision === 'v2') {
        const status = await t.store.getStatus('web');
        expect(status?.revision).toBe('v2');
        expect(status?.rollout).toMatchObject({ revision: 'v2', files: 2000, bytes: 1_734_567 });
      }
    }
    const history = await t.store.listHistory('web', { limit: 50 });
    await t.stop();

    const started = Object.fromEntries(history.filter((e) => e.type === 'rolloutStarted').map((e) => [e.revision, e.message]));
    expect(started.v1).toBe('rollout of v1 started over 4 in-service host(s)');
    expect(started.v2).toBe('rollout of v2 (2000 files, 1.7 MB) started over 4 in-service host(s)');
    expect(started.v3).toBe('rollout of v3 started over 4 in-service host(s); warning: revision v3 has no manifest.json and no files at s3://bucket/app/v3/');
    // a source the controller cannot read does not hold the rollout back: the hosts report their own failures
    expect(started.v4).toBe('rollout of v4 started over 4 in-service host(s)');
    expect(artifacts.checked).toEqual(['v1', 'v2', 'v3', 'v4']);
  });
});
