"""The inplace strategy: straight into the destination, every changed file written aside then renamed in."""
from __future__ import annotations

import os
import re
import shutil
import stat

from common import EXIT_CHECK_FAILED, EXIT_SYNCED, Finish, STATE, copy_file, file_digest, json_line, syncfs


class InplaceMixin:
    def check_mount_points(self):
        real = os.path.realpath(self.dest)
        rx = self.exclude_rx
        try:
            with open('/proc/self/mountinfo') as f:
                lines = f.read().split('\n')
        except OSError:
            return
        for line in lines:
            parts = line.split(' ')
            if len(parts) < 5:
                continue
            mount_point = re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), parts[4])
            if not mount_point.startswith(real + '/'):
                continue
            rel = mount_point[len(real) + 1:]
            if not (rx and rx.match(rel)):
                self.fail("inplace would sync across the mount point %s, which no exclude covers: add an exclude such "
                          "as '%s/*' (or use strategy release with a link)" % (mount_point, rel))

    def sync_inplace(self):
        self.check_strategy_inplace()
        self.check_mount_points()
        self.fetch()
        if self.objects:
            self.fail('strategy inplace cannot sync a published revision yet: use strategy release')
        self.state_write('journal.json', json_line({'strategy': 'inplace', 'revision': self.revision,
                                                    'attempt': self.attempt}))
        rx = self.exclude_rx
        renames = []
        changed = changed_bytes = 0
        for path in sorted(self.wanted):
            entry = self.wanted[path]
            full = os.path.join(self.dest, path)
            if entry.kind == 'd':
                if os.path.lexists(full) and not (os.path.isdir(full) and not os.path.islink(full)):
                    os.unlink(full)
                os.makedirs(full, 0o755, exist_ok=True)
                continue
            if entry.kind == 'l':
                if os.path.islink(full) and os.readlink(full) == entry.target:
                    continue
                tmp = os.path.join(os.path.dirname(full), '.fleetsync-new.%d.%d' % (os.getpid(), len(renames)))
                os.symlink(entry.target, tmp)
                renames.append((tmp, full))
                continue
            try:
                st = os.lstat(full)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == entry.size:
                self.hashed += 1
                if file_digest(full) == entry.sha:
                    continue
            os.makedirs(os.path.dirname(full), 0o755, exist_ok=True)
            tmp = os.path.join(os.path.dirname(full), '.fleetsync-new.%d.%d' % (os.getpid(), len(renames)))
            mode = stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) else entry.mode
            if copy_file(entry.source, tmp, mode) != entry.sha:
                os.unlink(tmp)
                self.fail('%s changed while it was copied: sync again' % entry.source)
            renames.append((tmp, full))
            changed += 1
            changed_bytes += entry.size
        for tmp, full in renames:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            os.replace(tmp, full)
        deleted = 0
        for top, dirs, files in os.walk(self.dest, topdown=True):
            rel_top = os.path.relpath(top, self.dest)
            rel_top = '' if rel_top == '.' else rel_top + '/'
            keep_dirs = []
            for name in dirs:
                rel = rel_top + name
                if rel == STATE or (rx and rx.match(rel)):
                    continue
                full = os.path.join(top, name)
                if rel not in self.wanted and os.path.islink(full):
                    os.unlink(full)
                    deleted += 1
                    continue
                keep_dirs.append(name)
            dirs[:] = keep_dirs
            for name in files:
                rel = rel_top + name
                if rel in self.wanted or (rx and rx.match(rel)):
                    continue
                os.unlink(os.path.join(top, name))
                deleted += 1
        for top, dirs, files in os.walk(self.dest, topdown=False):
            rel = os.path.relpath(top, self.dest)
            if rel == '.' or rel == STATE or rel.startswith(STATE + '/') or (rx and rx.match(rel)) or rel in self.wanted:
                continue
            try:
                os.rmdir(top)
            except OSError:
                pass
        self.log('%d files changed (%d bytes); deleted: %d' % (changed, changed_bytes, deleted))
        self.counts.update({'files': changed, 'bytes': changed_bytes})
        if self.source.startswith('file://'):
            self.counts.update({'downloadedFiles': changed, 'downloadedBytes': changed_bytes})
        syncfs(self.dest)
        ok, error = self.run_check(self.dest)
        if not ok:
            self.result['revision'] = None
            raise Finish(EXIT_CHECK_FAILED, 'checkFailed', '%s (inplace has no link to roll back)' % error)
        self.write_revision(self.revision)
        self.state_remove('journal.json')
        self.result['revision'] = self.revision
        raise Finish(EXIT_SYNCED, 'synced')
