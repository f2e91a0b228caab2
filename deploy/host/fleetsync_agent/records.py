"""What a run placed in each kept release, and the ctime ledger that keeps those records true across this run's own links and unlinks."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import zlib

from common import RECORD_VERSION, json_line


class Entry:
    """A wanted file, link or folder of a release."""
    __slots__ = ('kind', 'sha', 'size', 'mode', 'target', 'source')

    def __init__(self, kind, sha='', size=0, mode=0o644, target='', source=''):
        self.kind, self.sha, self.size, self.mode, self.target, self.source = kind, sha, size, mode, target, source


class Record:
    """What a run placed in one release: path -> (sha256, mode, size, inode, ctime_ns). A published revision's record
    also keeps its manifest's digest and the entries excludes left out ('x' lines), so the record holds the whole
    manifest: a delta to the next revision applies to it. An entry whose file changed behind the agent's back
    stays with inode 0 (never intact): its content is not trusted, but the manifest still lists it."""

    def __init__(self, excludes, files, links, dirs, digest=None, excluded=None):
        self.excludes, self.files, self.links, self.dirs = excludes, files, links, dirs
        self.digest, self.excluded = digest, excluded or {}

    def dump(self):
        head = {'format': RECORD_VERSION, 'excludes': self.excludes}
        if self.digest:
            head['digest'] = self.digest
        lines = [json_line(head)]
        for path in sorted(self.dirs):
            lines.append('d\t' + path)
        for path, target in sorted(self.links.items()):
            lines.append('l\t%s\t%s' % (path, target))
        for path, (sha, mode, size, ino, ctime) in sorted(self.files.items()):
            lines.append('f\t%s\t%o\t%d\t%d\t%d\t%s' % (sha, mode, size, ino, ctime, path))
        for path, (sha, mode, size) in sorted(self.excluded.items()):
            lines.append('x\t%s\t%o\t%d\t%s' % (sha, mode, size, path))
        return '\n'.join(lines) + '\n'

    @staticmethod
    def parse(text):
        lines = text.split('\n')
        head = json.loads(lines[0])
        if head.get('format') != RECORD_VERSION:
            raise ValueError('unknown record format')
        files, links, dirs, excluded = {}, {}, set(), {}
        for line in lines[1:]:
            if line.startswith('f\t'):
                # the common line first, unpacked at once: a 50,000-file record is read on every sync
                _, sha, mode, size, ino, ctime, path = line.split('\t')
                files[path] = (sha, int(mode, 8), int(size), int(ino), int(ctime))
                continue
            if not line:
                continue
            parts = line.split('\t')
            if parts[0] == 'd':
                dirs.add(parts[1])
            elif parts[0] == 'l':
                links[parts[1]] = parts[2]
            elif parts[0] == 'x' and len(parts) == 5:
                excluded[parts[4]] = (parts[1], int(parts[2], 8), int(parts[3]))
            else:
                raise ValueError('bad record line')
        digest = head.get('digest')
        return Record(head.get('excludes'), files, links, dirs, digest if isinstance(digest, str) else None, excluded)

    def manifest_entries(self):
        """path -> (sha256, size, mode) of every entry of the manifest this release was built from."""
        out = {p: (r[0], r[2], r[1]) for p, r in self.files.items()}
        out.update((p, (r[0], r[2], r[1])) for p, r in self.excluded.items())
        return out


def intact(path, rec):
    """The file is the one a run placed and verified: same inode, size, mode, and a ctime nobody moved."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    sha, mode, size, ino, ctime = rec
    if stat.S_ISREG(st.st_mode) and st.st_ino == ino and st.st_size == size and stat.S_IMODE(st.st_mode) == mode \
            and st.st_ctime_ns == ctime:
        return st
    return None


class RecordsMixin:
    def record_path(self, revision):
        """gzip'd: a 50,000-file record is 6.9 MB as text, 2.9 MB at level 1 (half is SHA-256 hex), and every sync
        rewrites the records of the kept releases whose inodes it linked."""
        return 'records/%s.tsv.gz' % revision

    @staticmethod
    def legacy_record_path(revision):
        """Where agents before gzip'd records kept them: read once, replaced by the next write."""
        return 'records/%s.tsv' % revision

    def load_record(self, revision):
        """Each record is read once a run (a 50,000-file record is 7 MB); writes go through save_record."""
        if revision in self.records:
            return self.records[revision]
        data = self.state_read_bytes(self.record_path(revision))
        record = None
        try:
            if data is not None:
                record = Record.parse(gzip.decompress(data).decode('utf-8'))
            else:
                text = self.state_read(self.legacy_record_path(revision))
                record = None if text is None else Record.parse(text)
        except (ValueError, IndexError, OSError, EOFError, zlib.error):
            record = None
        self.records[revision] = record
        return record

    def save_record(self, revision, record):
        self.state_write(self.record_path(revision), gzip.compress(record.dump().encode('utf-8'), 1, mtime=0))
        self.state_remove(self.legacy_record_path(revision))
        self.records[revision] = record

    def forget_record(self, revision):
        self.state_remove(self.record_path(revision))
        self.state_remove(self.legacy_record_path(revision))
        self.records.pop(revision, None)

    def note(self, path):
        """Before this run links, unlinks or renames a file: its ctime as it was, so that records of other releases
        sharing the inode can follow the change this run made (and only that one)."""
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            self.ledger.setdefault(st.st_ino, set()).add(st.st_ctime_ns)

    def note_tree(self, top):
        for root, _, files in os.walk(top):
            for name in files:
                self.note(os.path.join(root, name))

    def drop_work(self):
        """The run's downloads go before records are refreshed: unlinking them moves the ctime of placed files."""
        if self.work and os.path.lexists(self.work):
            self.note_tree(self.work)
            shutil.rmtree(self.work, ignore_errors=True)

    def refresh_records(self, revisions):
        """Rewrites the records of kept releases after this run linked or unlinked their inodes: an entry whose inode
        the run touched stays trusted if its ctime moved only by what this run did, and is marked untrusted (inode 0:
        hashed before any reuse) otherwise. Entries of inodes the run never touched are not even lstat-ed: whoever
        else changed them moved their ctime, and every use checks it (intact)."""
        self.drop_work()
        for revision in revisions:
            record = self.load_record(revision)
            if record is None:
                continue
            base = os.path.join(self.dest, 'releases', revision)
            changed = False
            for path, rec in list(record.files.items()):
                sha, mode, size, ino, ctime = rec
                if ino not in self.ledger:
                    continue
                try:
                    st = os.lstat(os.path.join(base, path))
                except OSError:
                    st = None
                if st is not None and stat.S_ISREG(st.st_mode) and st.st_ino == ino and st.st_size == size \
                        and stat.S_IMODE(st.st_mode) == mode:
                    if st.st_ctime_ns == ctime:
                        continue
                    if ctime in self.ledger[ino]:
                        record.files[path] = (sha, mode, size, ino, st.st_ctime_ns)
                        changed = True
                        continue
                record.files[path] = (sha, mode, size, 0, 0)
                changed = True
            if changed:
                self.save_record(revision, record)

    def write_record(self, revision, placed):
        base = os.path.join(self.dest, 'releases', revision)
        files, links, dirs = {}, {}, set()
        for path, entry in self.wanted.items():
            if entry.kind == 'd':
                dirs.add(path)
            elif entry.kind == 'l':
                links[path] = entry.target
            else:
                st = os.lstat(os.path.join(base, path))
                files[path] = (entry.sha, entry.mode, entry.size, st.st_ino, st.st_ctime_ns)
                self.ledger.setdefault(st.st_ino, set()).add(st.st_ctime_ns)
        excluded = {p: (e.sha, e.mode, e.size) for p, e in self.manifest_excluded.items()}
        self.state_mkdir('records')
        self.save_record(revision, Record(self.excludes, files, links, dirs, self.manifest_digest, excluded))
