"""The release strategy: build or find the release, then flush, journal, switch, check, and commit REVISION; or repair the live release in place."""
from __future__ import annotations

import os
import stat

from common import EXIT_CHECK_FAILED, EXIT_SYNCED, Finish, copy_file, file_digest, json_line, syncfs
from records import intact


class ReleaseMixin:
    def sync_release(self):
        why = 'the release strategy keeps releases that only the agent\'s user can change'
        self.check_owned(self.dest, why)
        for name in ('releases', 'shared'):
            if os.path.lexists(os.path.join(self.dest, name)):
                self.check_owned(os.path.join(self.dest, name), why)
        self.check_strategy_release()
        releases = os.path.join(self.dest, 'releases')
        os.makedirs(releases, 0o755, exist_ok=True)
        self.clean_leftovers()
        live = self.live_release()
        live_revision = self.read_revision()
        # whatever current pointed at (ours, or a link made by hand or another tool) is what a rollback restores
        previous_link = self.current_link()
        self.prepare_shared(live)
        final = os.path.join(releases, self.revision)

        if live and live == final:
            # already live (revisions are immutable): repaired in place, never moved away from under current
            self.repair_live(final)
            return
        if os.path.isdir(final) and not os.path.islink(final) and final != live and self.release_as_recorded(self.revision):
            self.log('%s is kept as it was placed: switching to it without a download' % final)
            for name, target in self.layout_links().items():
                self.place_link(final, name, target)
            target = self.load_record(self.revision).files
            live_record = self.load_record(os.path.basename(live)) if live else None
            before = live_record.files if live_record else {}
            differ = [p for p, r in target.items() if p not in before or before[p][:2] != r[:2]]
            self.counts.update({'files': len(differ), 'bytes': sum(target[p][2] for p in differ), 'downloadedFiles': 0,
                                'downloadedBytes': 0, 'reusedFiles': len(target),
                                'reusedBytes': sum(r[2] for r in target.values())})
            self.activate(final, live_revision, previous_link)
            return
        self.fetch()
        staging = os.path.join(releases, '.staging-%s-%s' % (self.revision, self.attempt))
        os.mkdir(staging, 0o755)
        self.staging = staging
        live_files = self.live_files(live)
        placed = self.build(staging, live_files)
        self.verify_placed(staging, placed)
        if os.path.lexists(final):
            trash = os.path.join(releases, '.trash-%s-%s' % (self.revision, self.attempt))
            os.rename(final, trash)
            self.remove_release(trash)
        os.rename(staging, final)
        self.staging = ''
        self.write_record(self.revision, placed)
        self.activate(final, live_revision, previous_link)

    def activate(self, final, live_revision, previous_link):
        """Flush, journal, switch, check; REVISION only once the check passed."""
        syncfs(final)
        os.utime(final)
        self.state_write('journal.json', json_line({
            'strategy': 'release', 'revision': self.revision, 'previousLink': previous_link,
            'previousRevision': live_revision, 'attempt': self.attempt}))
        self.switch_current('releases/' + self.revision)
        self.log('switched %s/current to releases/%s' % (self.dest, self.revision))
        ok, error = self.run_check(os.path.join(self.dest, 'current'))
        if not ok:
            self.recover()
            self.result['revision'] = self.read_revision()
            self.refresh_records(self.release_names())
            raise Finish(EXIT_CHECK_FAILED, 'checkFailed', '%s; rolled back to %s' % (error, live_revision or 'no release'))
        self.write_revision(self.revision)
        self.state_remove('journal.json')
        self.result['revision'] = self.revision
        self.prune(self.revision)
        self.refresh_records(self.release_names())
        raise Finish(EXIT_SYNCED, 'synced')

    def repair_live(self, final):
        """Already live (revisions are immutable): drifted files are replaced in place, each by a rename."""
        self.log('%s is already live: repairing releases/%s in place' % (self.revision, self.revision))
        self.fetch()
        record = self.load_record(self.revision)
        trusted = {}
        if record is not None:
            for path, rec in record.files.items():
                if intact(os.path.join(final, path), rec) is not None:
                    trusted[path] = rec
        index = self.index_sources([n for n in self.release_names() if n != self.revision])
        layout = self.layout_links()
        fixes = []
        for path, entry in self.wanted.items():
            full = os.path.join(final, path)
            if entry.kind == 'f':
                rec = trusted.get(path)
                if rec is not None and rec[0] == entry.sha and rec[1] == entry.mode:
                    continue
                try:
                    st = os.lstat(full)
                except OSError:
                    st = None
                if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == entry.size \
                        and stat.S_IMODE(st.st_mode) == entry.mode:
                    self.hashed += 1
                    sha = file_digest(full)
                    if sha == entry.sha:
                        continue
                    index.setdefault(sha, []).append((full, (sha, entry.mode, st.st_size, st.st_ino, st.st_ctime_ns)))
                fixes.append(path)
            elif entry.kind == 'l':
                if os.path.islink(full) and os.readlink(full) == entry.target:
                    continue
                fixes.append(path)
            elif not (os.path.isdir(full) and not os.path.islink(full)):
                fixes.append(path)
        needed = {}
        for path in fixes:
            entry = self.wanted[path]
            if entry.kind == 'f' and not entry.source and not self.trusted_source(index, entry.sha, entry.mode)[0]:
                needed[entry.sha] = entry.size
        objects = self.fetch_objects(needed, needed) if needed else {}
        if not needed:
            self.counts.setdefault('downloadedFiles', 0)
            self.counts.setdefault('downloadedBytes', 0)
        changed = changed_bytes = 0
        tmp = os.path.join(final, '.fleetsync-new.%d' % os.getpid())
        for path in sorted(fixes):
            entry = self.wanted[path]
            full = os.path.join(final, path)
            os.makedirs(os.path.dirname(full), 0o755, exist_ok=True)
            if entry.kind == 'd':
                if os.path.lexists(full) and not os.path.isdir(full):
                    self.note(full)
                    os.unlink(full)
                os.makedirs(full, 0o755, exist_ok=True)
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                self.remove_release(full)
            if entry.kind == 'l':
                os.symlink(entry.target, tmp)
            else:
                src, rec = self.trusted_source(index, entry.sha, entry.mode)
                if src is not None:
                    self.place_file(src, tmp, entry.mode, rec[1] == entry.mode)
                elif entry.sha in objects:
                    self.place_file(objects[entry.sha], tmp, entry.mode, False)
                else:
                    if copy_file(entry.source, tmp, entry.mode) != entry.sha:
                        self.fail('%s changed while it was copied: sync again' % entry.source)
                changed += 1
                changed_bytes += entry.size
            self.note(full)
            os.replace(tmp, full)
        # what the revision does not list goes; excluded and linked paths stay
        rx = self.exclude_rx
        for top, dirs, files in os.walk(final, topdown=False):
            rel_top = os.path.relpath(top, final)
            rel_top = '' if rel_top == '.' else rel_top + '/'
            for name in files + dirs:
                rel = rel_top + name
                full = os.path.join(top, name)
                if rel in self.wanted or rel in layout or (rx and rx.match(rel)) or not os.path.lexists(full):
                    continue
                if os.path.isdir(full) and not os.path.islink(full):
                    if not os.listdir(full):
                        os.rmdir(full)
                    continue
                self.note(full)
                os.unlink(full)
        for name, target in layout.items():
            self.place_link(final, name, target)
        kept = [e for p, e in self.wanted.items() if e.kind == 'f' and p not in fixes]
        self.counts.update({'files': changed, 'bytes': changed_bytes, 'reusedFiles': len(kept),
                            'reusedBytes': sum(e.size for e in kept)})
        self.write_record(self.revision, {})
        self.result['revision'] = self.revision
        ok, error = self.run_check(os.path.join(self.dest, 'current'))
        self.refresh_records([n for n in self.release_names() if n != self.revision])
        if not ok:
            raise Finish(EXIT_CHECK_FAILED, 'checkFailed',
                         '%s; %s was already live, so there is nothing to roll back to' % (error, self.revision))
        if self.read_revision() != self.revision:
            self.write_revision(self.revision)
        self.prune(self.revision)
        raise Finish(EXIT_SYNCED, 'synced')
