"""The release layout on a host: releases/, shared/ folders, links, pruning, leftovers, and the rules that keep other users and the other strategy out."""
from __future__ import annotations

import os
import shutil
import stat
import time

from common import RE_REVISION, STATE, matches


class LayoutMixin:
    def shared_folders(self):
        """The excludes' folders that live in <dest>/shared (a link of the same name wins over an exclude)."""
        out = []
        for pattern in self.excludes:
            folder = pattern[:-2]
            if folder not in self.link_names:
                out.append(folder)
        return out

    def move_aside(self, path, why):
        """A real folder where a link must go: its content is kept under .fleetsync/aside/, never deleted."""
        self.state_mkdir('aside')
        name = '%s.%s.%d' % (time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()), path.replace('/', '_').strip('_'),
                             os.getpid())
        target = self.state_path('aside/' + name)
        os.rename(path, target)
        self.log('moved %s aside to %s/%s/aside/%s (%s)' % (path, self.dest, STATE, name, why))

    def place_link(self, release, name, target):
        """name -> target inside release; parents are real folders of the release; a non-empty real folder in the
        way is moved aside, an empty one removed; the link is made beside and renamed over."""
        parent = release
        for segment in name.split('/')[:-1]:
            parent = os.path.join(parent, segment)
            if os.path.islink(parent):
                self.fail('cannot create link %s: %s is a symlink in the revision' % (name, parent))
            if not os.path.exists(parent):
                os.mkdir(parent, 0o755)
            if not os.path.isdir(parent):
                self.fail('cannot create link %s: %s is not a folder' % (name, parent))
        path = os.path.join(release, name)
        if os.path.islink(path):
            if os.readlink(path) == target:
                return
        elif os.path.isdir(path):
            if os.listdir(path):
                self.move_aside(path, 'a link to %s replaces it' % target)
            else:
                os.rmdir(path)
        elif os.path.lexists(path):
            self.note(path)
        tmp = os.path.join(parent, '.fleetsync-link.%d' % os.getpid())
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(target, tmp)
        os.replace(tmp, path)

    def prepare_shared(self, live):
        """Creates <dest>/shared/FOLDER for each excluded folder; a live release's own folder moves there (under
        the lock, with its owner and mode) the first time, so uploads are never left behind in a release."""
        folders = self.shared_folders()
        if not folders:
            return
        shared = os.path.join(self.dest, 'shared')
        if os.path.islink(shared):
            self.fail('%s is a symlink: fleetsync keeps the excluded folders there; move it away' % shared)
        os.makedirs(shared, mode=0o755, exist_ok=True)
        for folder in folders:
            target = os.path.join(shared, folder)
            if os.path.islink(target):
                self.fail('%s is a symlink: fleetsync keeps the excluded folder %s there; move it away' % (target, folder))
            in_live = os.path.join(live, folder) if live else ''
            if not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                if in_live and os.path.isdir(in_live) and not os.path.islink(in_live):
                    os.rename(in_live, target)
                    self.log('moved %s to %s: excluded folders live outside the releases' % (in_live, target))
                else:
                    os.mkdir(target, 0o755)
            elif not os.path.isdir(target):
                self.fail('%s is not a folder: fleetsync keeps the excluded folder %s there; move it away' % (target, folder))
            if live:
                self.place_link(live, folder, target)

    def layout_links(self):
        """Links every release gets: shared folders and --links."""
        links = {}
        for folder in self.shared_folders():
            links[folder] = os.path.join(self.dest, 'shared', folder)
        for name, target in zip(self.link_names, self.link_targets):
            links[name] = target
        return links

    def release_names(self):
        releases = os.path.join(self.dest, 'releases')
        try:
            names = os.listdir(releases)
        except OSError:
            return []
        return [n for n in names if matches(RE_REVISION, n) and os.path.isdir(os.path.join(releases, n))
                and not os.path.islink(os.path.join(releases, n))]

    def live_release(self):
        link = self.current_link()
        if link and link.startswith('releases/') and matches(RE_REVISION, link[len('releases/'):]):
            path = os.path.join(self.dest, link)
            if os.path.isdir(path) and not os.path.islink(path):
                return path
        return ''

    def remove_release(self, path):
        """Removes a release folder of ours; excluded or linked folders that are real (an older layout kept uploads
        there) are moved aside first, so no user data goes with it. Never crosses into another file system, and never
        follows a link: a link in its place is only unlinked."""
        if os.path.islink(path):
            os.unlink(path)
            return
        for name in list(self.layout_links()) + [p[:-2] for p in self.excludes]:
            inner = os.path.join(path, name)
            if os.path.isdir(inner) and not os.path.islink(inner) and os.listdir(inner):
                self.move_aside(inner, 'removing %s' % path)
        self.note_tree(path)
        dev = os.lstat(path).st_dev

        def onerror(func, p, exc):
            self.log('warning: could not remove %s: %s' % (p, exc[1]))
        for top, dirs, _ in os.walk(path):
            for d in list(dirs):
                full = os.path.join(top, d)
                if not os.path.islink(full) and os.lstat(full).st_dev != dev:
                    self.fail('%s is a mount point inside a release: unmount it before fleetsync removes %s' % (full, path))
        shutil.rmtree(path, onerror=onerror)

    def prune(self, live):
        releases = os.path.join(self.dest, 'releases')
        entries = []
        for name in self.release_names():
            entries.append((os.lstat(os.path.join(releases, name)).st_mtime_ns, name))
        kept = 0
        for _, name in sorted(entries, reverse=True):
            if name == live or kept < self.keep:
                kept += 1
                continue
            self.log('pruning release %s (keeping %d)' % (name, self.keep))
            # out of the way first: a prune cut short leaves a .trash- folder the next run removes, never a
            # half-deleted release under its own name
            trash = os.path.join(releases, '.trash-%s-%d' % (name, os.getpid()))
            os.rename(os.path.join(releases, name), trash)
            self.forget_record(name)
            self.remove_release(trash)

    def clean_leftovers(self):
        releases = os.path.join(self.dest, 'releases')
        for name in os.listdir(releases):
            if name.startswith('.staging-') or name.startswith('.trash-'):
                self.log('removing %s, left by a run that stopped' % name)
                self.remove_release(os.path.join(releases, name))
        for name in os.listdir(self.dest):
            if name.startswith('.current.next.'):
                os.unlink(os.path.join(self.dest, name))

    def check_strategy_release(self):
        current = os.path.join(self.dest, 'current')
        if os.path.lexists(current) and not os.path.islink(current):
            self.fail('%s is a real folder, not a link: move it away (it looks like an inplace layout)' % current)
        journal = self.read_journal()
        if (self.read_revision() and not os.path.islink(current)) or (journal and journal.get('strategy') == 'inplace'):
            others = sorted(n for n in os.listdir(self.dest) if n not in (STATE, 'releases', 'shared', 'current'))[:5]
            self.fail('%s holds a codebase synced with strategy inplace (%s): strategy release would leave it beside '
                      'the releases. Keep strategy inplace, or move those files away (and remove %s/%s/REVISION) '
                      'before switching' % (self.dest, ', '.join(others) or 'its REVISION', self.dest, STATE))

    def check_strategy_inplace(self):
        def real_dir(name):
            path = os.path.join(self.dest, name)
            return os.path.isdir(path) and not os.path.islink(path)
        found = ([] if not os.path.islink(os.path.join(self.dest, 'current')) else ['current']) \
            + [n for n in ('releases', 'shared') if real_dir(n)]
        if found:
            self.fail('%s holds the release strategy\'s %s: strategy inplace would sync over them and the uploads in '
                      'shared/. Keep strategy release, or move %s out of %s before switching'
                      % (self.dest, ', '.join(found), ' and '.join(found), self.dest))

    def check_ancestors(self):
        """Every folder above the destination, as given and as resolved, is root's or ours and writable by no one
        else (or sticky, like /tmp): else another user could swap the destination for a link to a folder of root's
        between two runs, or within one, and make this run write or delete there."""
        parts = [p for p in self.dest.split('/') if p]
        for i in range(1, len(parts) + 1):
            # a link on the way (the destination itself, say, in a sticky /tmp) counts only if root or we made it
            link = '/' + '/'.join(parts[:i])
            try:
                st = os.lstat(link)
            except OSError:
                break
            if stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.geteuid()):
                self.fail('%s is a link made by uid %d, who could point it anywhere: the destination must be reached '
                          'through folders and links of root\'s (or uid %d). Replace it with the real path %s'
                          % (link, st.st_uid, os.geteuid(), os.path.realpath(link)))
        for path in (self.dest, os.path.realpath(self.dest)):
            parts = [p for p in path.split('/') if p]
            for i in range(len(parts)):
                folder = '/' + '/'.join(parts[:i])
                try:
                    st = os.stat(folder)
                except OSError:
                    break
                if st.st_uid not in (0, os.geteuid()) or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
                    self.fail('%s, above the destination %s, can be changed by another user than root and uid %d (owner '
                              'uid %d, mode %o): that user could swap the destination for a link and make this run '
                              'write or delete elsewhere. Fix it with: chown root %s && chmod go-w %s'
                              % (folder, self.dest, os.geteuid(), st.st_uid, stat.S_IMODE(st.st_mode), folder, folder))

    def check_owned(self, path, why):
        """A folder the release strategy builds in: ours and writable by no one else, or another user could swap a
        part of it for a link between a check and a use, and make root write or remove elsewhere."""
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) and path != self.dest:
            self.fail('%s is a symlink: %s; move it away' % (path, why))
        if path == self.dest:
            st = os.stat(path)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            self.fail('%s is writable by another user than uid %d (owner uid %d, mode %o): %s. Fix it with: chown %d %s '
                      '&& chmod go-w %s (the app writes its uploads into %s/shared/FOLDER, which may stay its own)'
                      % (path, os.geteuid(), st.st_uid, stat.S_IMODE(st.st_mode), why, os.geteuid(), path, path, self.dest))
