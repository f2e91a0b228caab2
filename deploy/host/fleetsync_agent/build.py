"""Building a release from what the host has: trusted content is linked, the rest copied or downloaded, every new byte checked."""
from __future__ import annotations

import errno
import os
import stat

from common import SPARE_BYTES, copy_file, file_digest, matches
from records import intact


class BuildMixin:
    def index_sources(self, releases):
        """sha256 -> [(path, record entry)] of trusted files in kept releases, for linking instead of fetching."""
        index = {}
        for revision in releases:
            record = self.load_record(revision)
            if record is None:
                continue
            base = os.path.join(self.dest, 'releases', revision)
            for path, rec in record.files.items():
                if rec[3]:  # inode 0: changed behind the agent's back, never a source
                    index.setdefault(rec[0], []).append((os.path.join(base, path), rec))
        return index

    def hash_untrusted(self, release, index):
        """A release with no record (placed by an older agent): its files are hashed before any is reused."""
        if not release or not os.path.isdir(release):
            return
        for top, dirs, files in os.walk(release):
            for name in files:
                full = os.path.join(top, name)
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    self.hashed += 1
                    try:
                        sha = file_digest(full)
                    except OSError:
                        continue
                    rec = (sha, stat.S_IMODE(st.st_mode), st.st_size, st.st_ino, st.st_ctime_ns)
                    index.setdefault(sha, []).append((full, rec))

    def trusted_source(self, index, sha, mode):
        """A kept file with this content, still as it was verified; the same mode first."""
        candidates = index.get(sha, [])
        for want_mode in (True, False):
            for path, rec in list(candidates):
                if want_mode != (rec[1] == mode) or rec[3] in self.saturated:
                    continue
                if intact(path, rec) is not None:
                    return path, rec
                candidates.remove((path, rec))
        return None, None

    def place_file(self, src, dst, mode, same_mode):
        """A hard link when the mode matches (a copy when the inode is full of links), else a copy."""
        if same_mode:
            self.note(src)
            try:
                os.link(src, dst)
                return
            except OSError as e:
                if e.errno != errno.EMLINK:
                    raise
                # this inode is full: the copy made now takes the next links of the same content
                self.saturated.add(os.lstat(src).st_ino)
                self.log('%s has as many links as the file system allows: copying it once' % src)
        copy_file(src, dst, mode)

    def build(self, staging, live_files):
        """Fills an empty staging folder with the wanted tree: content from kept releases by link, the rest from the
        source or downloaded objects, every new byte checked against its SHA-256."""
        index = self.index_sources(self.release_names())
        if live_files is None:
            self.hash_untrusted(self.live_release(), index)
        needed = {}
        for path, entry in self.wanted.items():
            if entry.kind == 'f' and not self.trusted_source(index, entry.sha, entry.mode)[0] and not entry.source:
                needed[entry.sha] = entry.size
        objects = {}
        if needed:
            if not self.objects:
                self.fail('internal: plain revision without a source file')
            room = self.free_bytes()
            total = sum(needed.values())
            if total + SPARE_BYTES > room:
                self.fail('not enough disk space in %s: %s needs %d bytes (+64 MiB spare), %d are free; free space or '
                          'lower keepReleases' % (self.dest, self.revision, total, room))
            objects = self.fetch_objects(needed, needed)
        else:
            self.counts.setdefault('downloadedFiles', 0)
            self.counts.setdefault('downloadedBytes', 0)
        files = changed_bytes = reused = reused_bytes = copied = copied_bytes = 0
        placed = {}
        for path in sorted(self.wanted):
            entry = self.wanted[path]
            dst = os.path.join(staging, path)
            parent = os.path.dirname(dst)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755, exist_ok=True)
            if entry.kind == 'd':
                os.makedirs(dst, 0o755, exist_ok=True)
                continue
            if entry.kind == 'l':
                os.symlink(entry.target, dst)
                continue
            live = live_files.get(path) if live_files else None
            if live is None or live[0] != entry.sha or live[1] != entry.mode:
                files += 1
                changed_bytes += entry.size
            src, rec = self.trusted_source(index, entry.sha, entry.mode)
            if src is not None:
                self.place_file(src, dst, entry.mode, rec[1] == entry.mode)
                if not src.startswith(staging + '/'):
                    reused += 1
                    reused_bytes += entry.size
            elif entry.sha in objects:
                obj = objects[entry.sha]
                if stat.S_IMODE(os.lstat(obj).st_mode) != entry.mode and os.lstat(obj).st_nlink == 1:
                    os.chmod(obj, entry.mode)
                self.place_file(obj, dst, entry.mode, stat.S_IMODE(os.lstat(obj).st_mode) == entry.mode)
            else:
                if copy_file(entry.source, dst, entry.mode) != entry.sha:
                    self.fail('%s changed while it was copied: sync again' % entry.source)
                copied += 1
                copied_bytes += entry.size
            st = os.lstat(dst)
            placed[path] = (entry.sha, entry.mode, entry.size, st.st_ino)
            # the same content again for the next path: link it from here
            index.setdefault(entry.sha, []).append((dst, (entry.sha, entry.mode, entry.size, st.st_ino, st.st_ctime_ns)))
        for name, target in self.layout_links().items():
            self.place_link(staging, name, target)
        if not self.objects and self.source.startswith('file://'):
            self.counts.update({'downloadedFiles': copied, 'downloadedBytes': copied_bytes})
        self.counts.update({'files': files, 'bytes': changed_bytes, 'reusedFiles': reused, 'reusedBytes': reused_bytes})
        self.log('placed %d changed files (%d bytes); %d reused from kept releases' % (files, changed_bytes, reused))
        return placed

    def verify_placed(self, release, placed):
        """Everything placed is what was checked: the same inode at the same path, nothing else in the tree."""
        for path, (sha, mode, size, ino) in placed.items():
            try:
                st = os.lstat(os.path.join(release, path))
            except OSError:
                st = None
            if st is None or st.st_ino != ino or st.st_size != size or stat.S_IMODE(st.st_mode) != mode:
                self.fail('the files placed in %s do not match %s (%s changed while it was built)'
                          % (release, self.revision, path))

    def live_files(self, live):
        """The live release's files as its record has them (trusted), or None when it has no usable record."""
        if not live:
            return {}
        record = self.load_record(os.path.basename(live))
        if record is None:
            return None
        out = {}
        for path, rec in record.files.items():
            if rec[3] and intact(os.path.join(live, path), rec) is not None:
                out[path] = (rec[0], rec[1])
        return out

    def release_as_recorded(self, revision):
        """A kept release exactly as it was placed (stat only): every recorded file intact, nothing added, the same
        excludes. Then it can go live again at once."""
        record = self.load_record(revision)
        if record is None or record.excludes != self.excludes:
            return False
        base = os.path.join(self.dest, 'releases', revision)
        for path, rec in record.files.items():
            if intact(os.path.join(base, path), rec) is None:
                return False
        layout = self.layout_links()
        seen = 0
        for top, dirs, files in os.walk(base):
            rel_top = os.path.relpath(top, base)
            rel_top = '' if rel_top == '.' else rel_top + '/'
            for name in dirs + files:
                rel = rel_top + name
                if rel in layout or rel in record.links or rel in record.dirs:
                    continue
                if rel in record.files:
                    seen += 1
                    continue
                if os.path.isdir(os.path.join(top, name)) and not os.path.islink(os.path.join(top, name)) \
                        and any(f.startswith(rel + '/') for f in record.files):
                    continue
                return False
            dirs[:] = [d for d in dirs if rel_top + d not in layout and not os.path.islink(os.path.join(top, d))]
        for path, target in record.links.items():
            try:
                if os.readlink(os.path.join(base, path)) != target:
                    return False
            except OSError:
                return False
        return seen == len(record.files)
