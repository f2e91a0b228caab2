"""Sources: what a revision holds (path -> Entry), from a published manifest, a plain folder, or a plain S3 prefix."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

from common import MANIFEST_HEADER, NO_FILES, STATE, file_digest, has_dot_segment, manifest_digest
from delta import DELTA_FOLDER
from objects import EXACT_KEY_OBJECTS
from records import Entry


class SourcesMixin:
    def aws(self, args, what, capture=False):
        cmd = ['aws'] + self.endpoint + args
        try:
            self.child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE if capture else self.log_fd, stderr=self.log_fd)
            out, _ = self.child.communicate()
            code = self.child.returncode
        except FileNotFoundError:
            self.fail('the aws CLI is not installed on this host: install it (apt-get install awscli, dnf install '
                      'awscli, or AWS CLI v2)')
        finally:
            self.child = None
        if code != 0:
            self.fail('%s failed (aws exit %d); see %s/%s/sync.log' % (what, code, self.dest, STATE))
        return out.decode('utf-8', 'replace') if capture else ''

    def s3_location(self):
        rest = self.source[len('s3://'):]
        bucket, _, prefix = rest.partition('/')
        prefix = prefix.rstrip('/')
        return bucket, (prefix + '/' if prefix else '')

    def fetch(self):
        """Sets self.wanted (path -> Entry) and self.objects (where published content lives)."""
        if self.revision == 'objects':
            self.fail('revision objects is reserved: <source>/objects/ holds the content of published revisions; '
                      'use another name')
        self.objects = ''
        if self.source.startswith('s3://'):
            bucket, prefix = self.s3_location()
            key_prefix = prefix + self.revision + '/'
            self.root = 's3://%s/%s' % (bucket, prefix)
            self.log('listing s3://%s/%s' % (bucket, key_prefix))
            listing = self.aws(['s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', key_prefix,
                                '--output', 'json'], 'listing s3://%s/%s (permissions, region or network?)'
                               % (bucket, key_prefix), capture=True)
            try:
                listed = (json.loads(listing) if listing.strip() else {}).get('Contents') or []
            except ValueError:
                self.fail('cannot read the listing of s3://%s/%s' % (bucket, key_prefix))
            # publish's own files (deltas) are not the revision's: a folder of only those is an interrupted publish
            ours = key_prefix + STATE + '/'
            deltas = {item['Key'][len(key_prefix + DELTA_FOLDER):-len('.json')]: item for item in listed
                      if str(item.get('Key', '')).startswith(key_prefix + DELTA_FOLDER) and item['Key'].endswith('.json')}
            contents = [item for item in listed if not str(item.get('Key', '')).startswith(ours)]
            if not contents:
                self.fail('revision %s not found: s3://%s/%s %s' % (self.revision, bucket, key_prefix, NO_FILES))
            manifest_key = key_prefix + 'manifest.json'
            manifest_item = next((item for item in contents if item.get('Key') == manifest_key), None)
            if manifest_item is not None:
                got = self.delta_from_s3(bucket, key_prefix, deltas, manifest_item)
                if got is not None:
                    self.objects = self.root + 'objects/'
                    self.wanted = self.take_manifest(got[0], got[1], 'delta', got[2])
                    return
                local = self.work + '/manifest.json'
                self.aws(['s3', 'cp', '--only-show-errors', 's3://%s/%s' % (bucket, manifest_key), local],
                         'downloading s3://%s/%s' % (bucket, manifest_key))
                if self.read_head(local) == MANIFEST_HEADER:
                    self.objects = self.root + 'objects/'
                    self.wanted = self.read_manifest(local)
                    return
                self.log('%s%s/manifest.json is not a fleetsync manifest: syncing plain files' % (self.root, self.revision))
            self.wanted = self.fetch_s3_plain(bucket, key_prefix, contents)
            return
        path = '/' + self.source[len('file://'):].strip('/')
        self.root = path.rstrip('/') + '/'
        src = self.root + self.revision
        if not os.path.isdir(src):
            self.fail('revision %s not found: %s/ %s' % (self.revision, src, NO_FILES))
        manifest = src + '/manifest.json'
        if self.read_head(manifest) == MANIFEST_HEADER:
            self.objects = self.root + 'objects/'
            got = self.delta_from_folder(src)
            self.wanted = self.take_manifest(got[0], got[1], 'delta', got[2]) if got else self.read_manifest(manifest)
            return
        if os.path.isfile(manifest):
            self.log('%s/manifest.json is not a fleetsync manifest: syncing plain files' % src)
        self.wanted = self.walk_plain(src)

    @staticmethod
    def read_head(path):
        try:
            with open(path, 'rb') as f:
                return f.read(len(MANIFEST_HEADER)).decode('utf-8', 'replace')
        except OSError:
            return ''

    def read_manifest(self, path):
        """The canonical one-file-per-line manifest, read strictly: anything else is refused with its line."""
        where = '%s%s/manifest.json' % (self.root, self.revision)

        def bad(why):
            self.fail('%s is not a valid fleetsync manifest: %s; publish %s again' % (where, why, self.revision))
        try:
            with open(path, 'rb') as f:
                lines = f.read().decode('utf-8').split('\n')
        except (OSError, UnicodeDecodeError) as e:
            bad('unreadable (%s)' % e)
        if lines and lines[-1] == '':
            lines.pop()
        head = re.fullmatch(re.escape(MANIFEST_HEADER + '"revision":"%s",' % self.revision)
                            + r'.*"totals":\{"files":([0-9]+),"bytes":([0-9]+)\},"files":\[', lines[0] if lines else '')
        if head is None:
            bad('line 1: bad first line')
        # written by publish since deltas came; a JSON string cannot hold an unescaped ,"digest":" of its own
        claimed = re.search(r',"digest":"([0-9a-f]{64})","totals":', lines[0])
        entry = re.compile(r'\{"path":"([^"\\\x00-\x1f\x7f]+)","sha256":"([0-9a-f]{64})","size":(0|[1-9][0-9]{0,15}),'
                           r'"mode":"([0-7]{3})"\}(,?)')
        wanted, total, ended, more = {}, 0, False, False
        for number, line in enumerate(lines[1:], start=2):
            if ended or (more if line == ']}' else (wanted and not more)):
                bad('line %d: misplaced , or ]}' % number)
            if line == ']}':
                ended = True
                continue
            m = entry.fullmatch(line)
            if m is None:
                bad('line %d: not a file entry' % number)
            p = m.group(1)
            if p in wanted or has_dot_segment(p) or p.startswith('/') or p == STATE or p.startswith(STATE + '/'):
                bad('line %d: path %s is repeated or not a safe relative path' % (number, p))
            more = m.group(5) == ','
            size = int(m.group(3))
            total += size
            wanted[p] = (m.group(2), size, int(m.group(4), 8))
        if not ended:
            bad('line %d: no ]}' % (len(lines) + 1))
        if int(head.group(1)) != len(wanted) or int(head.group(2)) != total:
            bad('totals do not add up')
        if not wanted:
            bad('no files')
        digest = manifest_digest(wanted)
        if claimed and claimed.group(1) != digest:
            bad('its digest is not the SHA-256 of its entries')
        return self.take_manifest(wanted, digest, 'full', os.path.getsize(path))

    def take_manifest(self, entries, digest, how, size):
        """A published revision's whole file list (path -> (sha256, size, mode)), from its manifest or a delta: what
        the excludes keep is wanted; the rest and the digest go in the record, for the next delta."""
        every = {p: Entry('f', sha=e[0], size=e[1], mode=e[2]) for p, e in entries.items()}
        kept = self.drop_excluded(every)
        self.manifest_digest = digest
        self.manifest_excluded = {p: e for p, e in every.items() if p not in kept}
        self.counts['manifest'] = how
        self.counts['manifestBytes'] = size
        self.log('manifest: %d files (%d more excluded), %d bytes (read from %s of %d bytes)' % (
            len(kept), len(every) - len(kept), sum(e[1] for e in entries.values()),
            'a delta' if how == 'delta' else 'the whole manifest', size))
        return kept

    def drop_excluded(self, wanted):
        rx = self.exclude_rx
        if rx is None:
            return wanted
        kept = {p: e for p, e in wanted.items() if not rx.match(p)}
        if len(kept) != len(wanted):
            self.log('%d paths of %s are excluded' % (len(wanted) - len(kept), self.revision))
        return kept

    def walk_plain(self, src):
        """A plain folder: files (hashed), symlinks and folders, nothing followed, excludes left out."""
        wanted = {}
        rx = self.exclude_rx
        for top, dirs, files in os.walk(src):
            rel_top = os.path.relpath(top, src)
            rel_top = '' if rel_top == '.' else rel_top + '/'
            for name in list(dirs):
                rel = rel_top + name
                full = os.path.join(top, name)
                if (rx and rx.match(rel)) or rel == STATE:
                    dirs.remove(name)
                elif os.path.islink(full):
                    dirs.remove(name)
                    wanted[rel] = Entry('l', target=os.readlink(full))
                else:
                    wanted[rel] = Entry('d')
            for name in files:
                rel = rel_top + name
                full = os.path.join(top, name)
                if rx and rx.match(rel):
                    continue
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    wanted[rel] = Entry('l', target=os.readlink(full))
                elif stat.S_ISREG(st.st_mode):
                    self.hashed += 1
                    wanted[rel] = Entry('f', sha=file_digest(full), size=st.st_size,
                                        mode=stat.S_IMODE(st.st_mode) & 0o7755, source=full)
        # publish's own .fleetsync/ (deltas of a publish cut short before its manifest) is not content
        if not any(e.kind != 'd' for e in wanted.values()) and not [n for n in os.listdir(src) if n != STATE]:
            self.fail('revision %s is empty: %s/ %s; refusing to sync an empty codebase' % (self.revision, src, NO_FILES))
        return wanted

    def fetch_s3_plain(self, bucket, key_prefix, contents):
        """A plain prefix, mirrored into .fleetsync/s3-cache. S3 already knows each file's MD5: the ETag of a
        single-part upload without SSE-KMS/SSE-C. A cached file whose MD5 (computed when it was downloaded, trusted
        by inode, size and ctime since) equals a key's ETag is reused; only the other keys are downloaded, by one
        aws s3 sync that sees the reused files as up to date (same size, and the key's LastModified as mtime)."""
        self.state_mkdir('s3-cache')
        cache = self.state_path('s3-cache')
        by_md5 = {}
        for rel, (md5, size, ino, ctime) in self.load_cache_index().items():
            try:
                st = os.lstat(os.path.join(cache, rel))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_ino, st.st_size, st.st_ctime_ns) == (ino, size, ctime):
                by_md5.setdefault(md5, os.path.join(cache, rel))
        if os.path.lexists(self.state_path('s3-next')):
            shutil.rmtree(self.state_path('s3-next'))
        self.state_mkdir('s3-next')
        nxt = self.state_path('s3-next')
        rx = self.exclude_rx
        etags, reused, not_reusable, keys = {}, {}, 0, {}
        for item in contents:
            key, etag = item.get('Key', ''), str(item.get('ETag', '')).strip('"')
            rel = key[len(key_prefix):] if key.startswith(key_prefix) else ''
            if not rel or rel.endswith('/') or has_dot_segment(rel) or (rx and rx.match(rel)):
                continue
            keys[rel] = key
            if not re.fullmatch(r'[0-9a-f]{32}', etag):
                not_reusable += 1
                continue
            etags[rel] = etag
            src = by_md5.get(etag)
            if src is None or os.lstat(src).st_size != item.get('Size'):
                continue
            dst = os.path.join(nxt, rel)
            os.makedirs(os.path.dirname(dst), 0o700, exist_ok=True)
            if os.path.lexists(dst):
                continue
            self.place_file(src, dst, stat.S_IMODE(os.lstat(src).st_mode), True)
            when = self.s3_time(item.get('LastModified'))
            if when is not None:
                os.utime(dst, ns=(when, when), follow_symlinks=False)
            reused[rel] = os.lstat(dst).st_ino
        missing = sorted(rel for rel in keys if rel not in reused)
        if len(missing) <= EXACT_KEY_OBJECTS:
            # A routine deploy: the listing above is all the host reads besides the changed files themselves.
            self.log('downloading %d files of s3://%s/%s by key: %d found on the host by their ETag'
                     % (len(missing), bucket, key_prefix, len(reused)))
            for rel in missing:
                os.makedirs(os.path.dirname(os.path.join(nxt, rel)), 0o700, exist_ok=True)
            self.run_parallel([['s3', 'cp', '--only-show-errors', 's3://%s/%s' % (bucket, keys[rel]), os.path.join(nxt, rel)]
                               for rel in missing])
            absent = [rel for rel in missing if not os.path.isfile(os.path.join(nxt, rel))]
            if absent:
                self.fail('could not download s3://%s/%s (and %d more): see the aws CLI errors in the log, then sync again'
                          % (bucket, keys[absent[0]], len(absent) - 1))
        else:
            args = ['s3', 'sync', 's3://%s/%s' % (bucket, key_prefix), nxt + '/', '--delete', '--exact-timestamps',
                    '--no-follow-symlinks', '--only-show-errors', '--no-progress']
            for pattern in self.excludes:
                args += ['--exclude', pattern]
            self.log('downloading s3://%s/%s: %d files found on the host by their ETag' % (bucket, key_prefix, len(reused)))
            self.aws(args, 'aws s3 sync from s3://%s/%s' % (bucket, key_prefix))
        index, moved, moved_bytes = {}, 0, 0
        for top, _, files in os.walk(nxt):
            for name in files:
                full = os.path.join(top, name)
                rel = os.path.relpath(full, nxt)
                st = os.lstat(full)
                if reused.get(rel) == st.st_ino:
                    md5 = etags[rel]
                else:
                    moved += 1
                    moved_bytes += st.st_size
                    self.hashed += 1
                    md5 = file_digest(full, 'md5')
                    if rel in etags and etags[rel] != md5:
                        self.fail('s3://%s/%s%s arrived with an MD5 other than its ETag: sync again' % (bucket, key_prefix, rel))
                index[rel] = (md5, st.st_size, st.st_ino, st.st_ctime_ns)
        self.note_tree(cache)
        shutil.rmtree(cache)
        os.rename(nxt, cache)
        # the rename moved every file's ctime on some file systems: index what is there now
        for rel, (md5, size, ino, _) in list(index.items()):
            index[rel] = (md5, size, ino, os.lstat(os.path.join(cache, rel)).st_ctime_ns)
        self.state_write('s3-cache.tsv', ''.join('%s\t%d\t%d\t%d\t%s\n' % (v[0], v[1], v[2], v[3], k)
                                                  for k, v in sorted(index.items())))
        wanted = self.walk_plain(cache)
        self.counts['downloadedFiles'] = moved
        self.counts['downloadedBytes'] = moved_bytes
        if not_reusable:
            self.counts['notReusableFiles'] = not_reusable
        self.log('%d files downloaded (%d bytes), %d reused by ETag, %d with an ETag that is not an MD5 (multipart or '
                 'KMS): always downloaded' % (moved, moved_bytes, len(reused), not_reusable))
        return wanted

    def load_cache_index(self):
        text = self.state_read('s3-cache.tsv') or ''
        out = {}
        for line in text.split('\n'):
            parts = line.split('\t')
            if len(parts) == 5 and re.fullmatch(r'[0-9a-f]{32}', parts[0]) and not has_dot_segment(parts[4]):
                try:
                    out[parts[4]] = (parts[0], int(parts[1]), int(parts[2]), int(parts[3]))
                except ValueError:
                    continue
        return out

    @staticmethod
    def s3_time(value):
        """LastModified of a listing (2026-12-05T22:10:00.000Z or +00:00) in ns since the epoch, or None."""
        m = re.fullmatch(r'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|\+00:00)', str(value or ''))
        if m is None:
            return None
        import calendar
        seconds = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)) + (0, 0, 0))
        return seconds * 1_000_000_000
