import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { flatObjectKey, objectKey, objectOfKey } from '../../state/manifest.ts';

const SHA = '3f9c2ab0'.repeat(8);

describe('object keys', () => {
  it('shards by the first two hex digits: objects/ab/<sha256>; stores published before keep objects/<sha256>', () => {
    expect(objectKey(SHA)).toBe(`objects/3f/${SHA}`);
    expect(flatObjectKey(SHA)).toBe(`objects/${SHA}`);
  });

  it('names the object of a key under objects/ in either layout, and nothing else', () => {
    expect(objectOfKey(`3f/${SHA}`)).toEqual({ sha256: SHA, layout: 'sharded' });
    expect(objectOfKey(SHA)).toEqual({ sha256: SHA, layout: 'flat' });
    for (const other of [`ab/${SHA}`, `3f/.tmp-${SHA}-1`, '3f/', `3/${SHA}`, `3f/${SHA}/x`, `${SHA.toUpperCase()}`, `x/3f/${SHA}`]) {
      expect(objectOfKey(other), other).toBeUndefined();
    }
  });

  it('the host agent (common.py object_key) puts an object where publish writes it', () => {
    const python = 'import sys; sys.path.insert(0, "deploy/host/fleetsync_agent"); import common; '
      + 'print(common.object_key(sys.argv[1])); print(common.flat_object_key(sys.argv[1]))';
    const out = execFileSync('python3', ['-B', '-c', python, SHA], { encoding: 'utf8' }).trim().split('\n');
    expect(out).toEqual([objectKey(SHA), flatObjectKey(SHA)]);
  });
});
