import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ManifestError, buildManifest, describeRevision, checkManifestPath, looksLikeManifest, manifestDifferences, modeString, parseManifest,
  renderManifest, type ManifestFile,
} from '../../state/manifest.ts';
import { excludeMatcher } from '../../state/excludes.ts';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function manifestOf(files: ManifestFile[]) {
  return buildManifest({ revision: 'r1', publishedBy: 'ci@build', publishedAt: '2026-11-25T00:00:00.000Z', files });
}

describe('manifest text', () => {
  it('is one file per line, sorted, with totals, and parses back to the same manifest', () => {
    const m = manifestOf([
      { path: 'lib/b.php', sha256: SHA_B, size: 3, mode: '644' },
      { path: 'index.php', sha256: SHA_A, size: 5, mode: '755' },
    ]);
    const text = renderManifest(m);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\{"apiVersion":"fleetsync.dev\/v1","kind":"Manifest","revision":"r1",.*"totals":\{"files":2,"bytes":8\},"files":\[$/);
    expect(lines[1]).toBe(`{"path":"index.php","sha256":"${SHA_A}","size":5,"mode":"755"},`);
    expect(lines[2]).toBe(`{"path":"lib/b.php","sha256":"${SHA_B}","size":3,"mode":"644"}`);
    expect(lines[3]).toBe(']}');
    expect(parseManifest(text, 'm')).toEqual(m);
    expect(looksLikeManifest(text)).toBe(true);
  });

  it('an empty revision renders and parses', () => {
    const m = manifestOf([]);
    expect(parseManifest(renderManifest(m), 'm').files).toEqual([]);
  });

  it('round-trips any valid file list', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9 ._@+~-]{1,12}$/).filter((s) => s !== '.' && s !== '..' && s !== '.fleetsync');
    const file = fc.record({
      path: fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
      sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
      size: fc.nat(),
      mode: fc.integer({ min: 0, max: 0o777 }).map(modeString),
    });
    fc.assert(fc.property(fc.uniqueArray(file, { selector: (f) => f.path, maxLength: 20 }), (files) => {
      const paths = files.map((f) => f.path);
      fc.pre(!paths.some((p) => paths.some((q) => q.startsWith(`${p}/`))));
      const m = manifestOf(files);
      expect(parseManifest(renderManifest(m), 'm')).toEqual(m);
    }));
  });

  it('refuses an app\'s own manifest.json, bad paths, bad sums and wrong totals, naming the problem', () => {
    expect(() => parseManifest('{"name":"my pwa","icons":[]}', 's3://b/r1/manifest.json')).toThrow(/s3:\/\/b\/r1\/manifest.json is not a valid fleetsync manifest/);
    const good = renderManifest(manifestOf([{ path: 'a', sha256: SHA_A, size: 1, mode: '644' }]));
    expect(() => parseManifest(good.replace('"path":"a"', '"path":"../a"'), 'm')).toThrow(/"\.\." segment/);
    expect(() => parseManifest(good.replace(SHA_A, 'A'.repeat(64)), 'm')).toThrow(/sha256/);
    expect(() => parseManifest(good.replace('"bytes":1', '"bytes":2'), 'm')).toThrow(/totals/);
    expect(() => parseManifest(good.slice(0, -5), 'm')).toThrow(ManifestError);
    expect(() => manifestOf([{ path: 'a', sha256: SHA_A, size: 1, mode: '644' }, { path: 'a/b', sha256: SHA_A, size: 1, mode: '644' }]))
      .toThrow(/both a file and a folder/);
    expect(checkManifestPath('a/"b')).toMatch(/quote/);
    expect(checkManifestPath('a\nb')).toMatch(/control/);
    expect(checkManifestPath('.fleetsync/REVISION')).toMatch(/\.fleetsync/);
    expect(checkManifestPath('/etc/passwd')).toMatch(/absolute/);
    expect(checkManifestPath('café/menu é.php')).toBeUndefined();
  });

  it('differences name changed, added and removed paths', () => {
    const a = manifestOf([{ path: 'a', sha256: SHA_A, size: 1, mode: '644' }, { path: 'b', sha256: SHA_A, size: 1, mode: '644' }]);
    const b = manifestOf([{ path: 'a', sha256: SHA_B, size: 1, mode: '644' }, { path: 'c', sha256: SHA_A, size: 1, mode: '644' }]);
    expect(manifestDifferences(a, b)).toEqual(['a', 'b', 'c']);
    expect(manifestDifferences(a, a)).toEqual([]);
  });
});

describe('describeRevision', () => {
  it('refuses the reserved name "objects", whatever its folder holds (it is the object store)', () => {
    const d = describeRevision({ revision: 'objects', manifestText: null, hasOtherFiles: true, where: 's3://b/objects/', manifestWhere: 's3://b/objects/manifest.json' });
    expect(d.exists).toBe(false);
    expect(d.problem).toMatch(/"objects" is reserved/);
  });
});

describe('exclude patterns', () => {
  it('match like the host script: anchored, * crosses folders, ? does not', () => {
    const m = excludeMatcher(['media/*', 'var/*', '*.log', 'a?c']);
    expect(m.file('media/x/y.jpg')).toBe(true);
    expect(m.file('var/cache')).toBe(true);
    expect(m.file('lib/debug.log')).toBe(true);
    expect(m.file('abc')).toBe(true);
    expect(m.file('a/c')).toBe(false);
    expect(m.file('src/media/x')).toBe(false);
    expect(m.file('media')).toBe(false);
    expect(m.folder('media')).toBe(true);
    expect(m.folder('lib')).toBe(false);
  });
});
