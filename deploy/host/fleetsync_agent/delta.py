"""Manifest deltas: a host holding published revision A builds B's file list from its record of A and the few lines
publish wrote at <source>/B/.fleetsync/delta/A.json (state/manifestDelta.ts), instead of downloading B's whole
manifest. The list is believed only when it hashes to the digest of B's manifest; anything else reads the manifest."""
from __future__ import annotations

import json
import os
import re

from common import Finish, MANIFEST_HEADER, STATE, has_dot_segment, manifest_digest

DELTA_FOLDER = '.fleetsync/delta/'
HEX64 = re.compile(r'[0-9a-f]{64}')
SAFE_PATH = re.compile(r'[^"\\\x00-\x1f\x7f]+')


class DeltaMixin:
    def delta_bases(self):
        """Kept releases built from a published manifest whose digest their record knows: the live one first, then
        the latest others. Never the revision being synced (no delta from itself)."""
        live = os.path.basename(self.live_release()) if self.live_release() else ''
        releases = os.path.join(self.dest, 'releases')
        names = self.release_names()
        others = sorted((n for n in names if n != live),
                        key=lambda n: os.lstat(os.path.join(releases, n)).st_mtime_ns, reverse=True)
        out = []
        for name in ([live] if live in names else []) + others:
            record = self.load_record(name) if name != self.revision else None
            if record is not None and record.digest:
                out.append((name, record))
        return out

    def delta_from_s3(self, bucket, key_prefix, deltas, manifest_item):
        """deltas: base -> listing item of <rev>/.fleetsync/delta/<base>.json. Returns (entries, digest, bytes) or None."""
        etag = str(manifest_item.get('ETag', '')).strip('"')
        for base, record in self.delta_bases():
            item = deltas.get(base)
            if item is None:
                continue
            if not re.fullmatch(r'[0-9a-f]{32}', etag):
                self.log('the manifest\'s ETag %s is not its MD5 (SSE-KMS or multipart): reading the whole manifest' % etag)
                return None
            if int(item.get('Size') or 0) >= int(manifest_item.get('Size') or 0):
                self.log('the delta from %s is not smaller than the manifest: reading the whole manifest' % base)
                return None
            local = self.work + '/delta.json'
            key = key_prefix + DELTA_FOLDER + base + '.json'
            try:
                self.aws(['s3', 'cp', '--only-show-errors', 's3://%s/%s' % (bucket, key), local],
                         'downloading s3://%s/%s' % (bucket, key))
                with open(local, 'rb') as f:
                    data = f.read()
            except (Finish, OSError) as e:
                self.log('cannot download the delta from %s (%s): reading the whole manifest' % (base, e))
                return None
            got = self.apply_delta(data, base, record, manifest_md5=etag)
            return None if got is None else got + (len(data),)
        self.log('no delta from a release this host keeps (%s): reading the whole manifest'
                 % (', '.join(n for n, _ in self.delta_bases()) or 'none with a published manifest'))
        return None

    def delta_from_folder(self, src):
        """A file:// revision: the delta beside the manifest, bound to it by the digest in the manifest's header."""
        header_digest = self.header_digest(src + '/manifest.json')
        for base, record in self.delta_bases():
            path = src + '/' + DELTA_FOLDER + base + '.json'
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            if header_digest is None:
                self.log('%s/manifest.json has no digest: reading the whole manifest' % src)
                return None
            try:
                with open(path, 'rb') as f:
                    data = f.read()
            except OSError as e:
                self.log('cannot read the delta from %s (%s): reading the whole manifest' % (base, e.strerror))
                return None
            got = self.apply_delta(data, base, record, header_digest=header_digest)
            return None if got is None else got + (len(data),)
        self.log('no delta from a release this host keeps: reading the whole manifest')
        return None

    @staticmethod
    def header_digest(path):
        """The digest in a manifest's first line, or None."""
        try:
            with open(path, 'rb') as f:
                line = f.readline(65536).decode('utf-8', 'replace')
        except OSError:
            return None
        m = re.search(r',"digest":"([0-9a-f]{64})","totals":\{"files":[0-9]+,"bytes":[0-9]+\},"files":\[$', line.rstrip('\n'))
        return m.group(1) if line.startswith(MANIFEST_HEADER) and m else None

    def apply_delta(self, data, base, record, manifest_md5=None, header_digest=None):
        """B's entries (path -> (sha256, size, mode)) and digest, from the record of base and a delta; None, with the
        reason logged, unless the result is exactly the list of B's manifest."""
        def unusable(why):
            self.log('the delta from %s is unusable (%s): reading the whole manifest' % (base, why))
            return None
        try:
            d = json.loads(data.decode('utf-8'))
        except (UnicodeDecodeError, ValueError):
            return unusable('not JSON')
        if not isinstance(d, dict) or d.get('apiVersion') != 'fleetsync.dev/v1' or d.get('kind') != 'ManifestDelta':
            return unusable('not a ManifestDelta')
        if d.get('revision') != self.revision or d.get('base') != base:
            return unusable('it is the delta from %s to %s' % (d.get('base'), d.get('revision')))
        if d.get('baseDigest') != record.digest:
            return unusable('it was made from another %s than this host holds' % base)
        digest, totals, files, removed = d.get('digest'), d.get('totals'), d.get('files'), d.get('removed')
        if not (isinstance(digest, str) and HEX64.fullmatch(digest) and isinstance(totals, dict)
                and isinstance(files, list) and isinstance(removed, list)):
            return unusable('its fields are missing or malformed')
        if manifest_md5 is not None and d.get('manifestMd5') != manifest_md5:
            return unusable('it belongs to another manifest of %s than the one published (its MD5 is not the ETag)' % self.revision)
        if header_digest is not None and digest != header_digest:
            return unusable('its digest is not the one in the manifest')
        entries = record.manifest_entries()
        for path in removed:
            if not isinstance(path, str) or entries.pop(path, None) is None:
                return unusable('it removes %s, which %s does not have' % (json.dumps(path)[:100], base))
        for f in files:
            if not isinstance(f, dict):
                return unusable('an entry is not an object')
            path, sha, size, mode = f.get('path'), f.get('sha256'), f.get('size'), f.get('mode')
            if not (isinstance(path, str) and SAFE_PATH.fullmatch(path) and not has_dot_segment(path)
                    and not path.startswith('/') and path != STATE and not path.startswith(STATE + '/')):
                return unusable('a path is not a safe relative path')
            if not (isinstance(sha, str) and HEX64.fullmatch(sha) and type(size) is int and 0 <= size < 1 << 53
                    and isinstance(mode, str) and re.fullmatch(r'[0-7]{3}', mode)):
                return unusable('the entry of %s is malformed' % json.dumps(path)[:100])
            entries[path] = (sha, size, int(mode, 8))
        if not entries or len(entries) != totals.get('files') or sum(e[1] for e in entries.values()) != totals.get('bytes'):
            return unusable('the files it gives do not add up to its totals')
        if manifest_digest(entries) != digest:
            return unusable('the files it gives do not hash to the manifest\'s digest')
        self.log('manifest of %s rebuilt from %s and a %d-line delta' % (self.revision, base, len(files) + len(removed)))
        return entries, digest
