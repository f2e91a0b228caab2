import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  buildManifest, canonicalText, modeString, parseManifest, renderManifest, type Manifest, type ManifestFile,
} from '../../state/manifest.ts';
import { applyDelta, computeDelta, deltaPath, newestFirst, renderDelta } from '../../state/manifestDelta.ts';

const hex = (algorithm: string) => (text: string): string => createHash(algorithm).update(text, 'utf8').digest('hex');
const SHA = (c: string): string => c.repeat(64);

function manifest(revision: string, files: ManifestFile[]): Manifest {
  return buildManifest({ revision, publishedBy: 'ci', publishedAt: '2026-12-06T00:00:00.000Z', files, sha256: hex('sha256') });
}

function delta(base: Manifest, target: Manifest) {
  return computeDelta({
    base, baseDigest: base.digest as string, target, digest: target.digest as string, manifestMd5: hex('md5')(renderManifest(target)),
  });
}

describe('canonical digest', () => {
  it('is the SHA-256 of one "path TAB sha256 TAB size TAB mode" line per entry in manifest order, and is in the header', () => {
    const m = manifest('r1', [
      { path: 'lib/b.php', sha256: SHA('b'), size: 3, mode: '644' },
      { path: 'docs/ü é.txt', sha256: SHA('a'), size: 5, mode: '755' },
    ]);
    expect(canonicalText(m.files)).toBe(`docs/ü é.txt\t${SHA('a')}\t5\t755\nlib/b.php\t${SHA('b')}\t3\t644\n`);
    expect(m.digest).toBe(createHash('sha256').update(Buffer.from(canonicalText(m.files), 'utf8')).digest('hex'));
    const text = renderManifest(m);
    expect(text.split('\n')[0]).toMatch(new RegExp(`,"digest":"${m.digest}","totals":\\{"files":2,"bytes":8\\},"files":\\[$`));
    expect(parseManifest(text, 'm')).toEqual(m);
  });

  it('covers the entries only: who and when do not change it, any entry field does', () => {
    const files = [{ path: 'a', sha256: SHA('a'), size: 1, mode: '644' }];
    const one = manifest('r1', files);
    const other = buildManifest({ revision: 'r9', publishedBy: 'x', publishedAt: '2020-01-01T00:00:00.000Z', files, sha256: hex('sha256') });
    expect(other.digest).toBe(one.digest);
    for (const changed of [{ sha256: SHA('b') }, { size: 2 }, { mode: '755' }, { path: 'b' }]) {
      expect(manifest('r1', [{ ...files[0] as ManifestFile, ...changed }]).digest).not.toBe(one.digest);
    }
  });

  it('manifests without a digest (published before deltas) still parse; a malformed one is refused', () => {
    const m = buildManifest({ revision: 'r1', publishedBy: 'ci', publishedAt: 'now', files: [{ path: 'a', sha256: SHA('a'), size: 1, mode: '644' }] });
    expect(m.digest).toBeUndefined();
    expect(renderManifest(m)).not.toContain('digest');
    const withDigest = renderManifest(manifest('r1', m.files));
    expect(() => parseManifest(withDigest.replace(/"digest":"[0-9a-f]+"/, '"digest":"XYZ"'), 'm')).toThrow(/digest/);
  });
});

describe('manifest deltas', () => {
  const A = manifest('a', [
    { path: 'index.php', sha256: SHA('1'), size: 10, mode: '644' },
    { path: 'lib/gone.php', sha256: SHA('2'), size: 20, mode: '644' },
    { path: 'lib/same.php', sha256: SHA('3'), size: 30, mode: '644' },
    { path: 'bin/run', sha256: SHA('4'), size: 40, mode: '644' },
  ]);
  const B = manifest('b', [
    { path: 'index.php', sha256: SHA('5'), size: 11, mode: '644' }, // content changed
    { path: 'lib/same.php', sha256: SHA('3'), size: 30, mode: '644' }, // unchanged
    { path: 'bin/run', sha256: SHA('4'), size: 40, mode: '755' }, // mode changed
    { path: 'lib/new.php', sha256: SHA('2'), size: 20, mode: '644' }, // moved
  ]);

  it('lists what B has otherwise than A, and the paths A has and B not; applied to A it gives B', () => {
    const d = delta(A, B);
    expect(d).toMatchObject({ revision: 'b', base: 'a', baseDigest: A.digest, digest: B.digest, totals: B.totals });
    expect(d.files.map((f) => f.path)).toEqual(['bin/run', 'index.php', 'lib/new.php']);
    expect(d.removed).toEqual(['lib/gone.php']);
    expect(applyDelta(A.files, d)).toEqual(B.files);
    expect(hex('sha256')(canonicalText(applyDelta(A.files, d)))).toBe(B.digest);
    expect(deltaPath('a')).toBe('.fleetsync/delta/a.json');
  });

  it('renders one entry a line, as JSON that reads back to the same delta', () => {
    const d = delta(A, B);
    const text = renderDelta(d);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\{"apiVersion":"fleetsync.dev\/v1","kind":"ManifestDelta","revision":"b","base":"a",.*"files":\[$/);
    expect(lines[1]).toBe(`{"path":"bin/run","sha256":"${SHA('4')}","size":40,"mode":"755"},`);
    expect(lines).toContain('],"removed":[');
    expect(lines).toContain('"lib/gone.php"');
    expect(JSON.parse(text)).toEqual(d);
    // nothing changed: empty lists still render as JSON
    expect(JSON.parse(renderDelta(delta(A, A)))).toMatchObject({ files: [], removed: [] });
  });

  it('any two file lists: A plus the delta is B, and the delta holds no unchanged entry', () => {
    const file = fc.record({
      path: fc.constantFrom('a', 'b', 'c/d', 'c/e', 'f ü', 'g/h/i', 'j'),
      sha256: fc.constantFrom(SHA('1'), SHA('2'), SHA('3')),
      size: fc.integer({ min: 0, max: 3 }),
      mode: fc.constantFrom(0o644, 0o755).map(modeString),
    });
    const list = fc.uniqueArray(file, { selector: (f) => f.path, maxLength: 7 });
    fc.assert(fc.property(list, list, (a, b) => {
      const ma = manifest('a', a);
      const mb = manifest('b', b);
      const d = delta(ma, mb);
      expect(applyDelta(ma.files, d)).toEqual(mb.files);
      const before = new Map(ma.files.map((f) => [f.path, JSON.stringify(f)]));
      expect(d.files.every((f) => before.get(f.path) !== JSON.stringify(f))).toBe(true);
    }));
  });

  it('bases are the latest manifests first, the same time by name', () => {
    expect(newestFirst([{ name: 'r1', ms: 1 }, { name: 'r3', ms: 3 }, { name: 'r2b', ms: 2 }, { name: 'r2a', ms: 2 }], 3))
      .toEqual(['r3', 'r2a', 'r2b']);
  });
});
