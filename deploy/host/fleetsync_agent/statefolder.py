"""The state folder <dest>/.fleetsync, ours alone, reached through one descriptor; REVISION, the lock, the log, and the journal that undoes an unfinished switch."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import stat

from common import LOG_ROTATE_BYTES, RE_REVISION, STATE, matches


class StateFolderMixin:
    def state_path(self, name=''):
        return self.fs + ('/' + name if name else '')

    def open_state(self, create):
        """Opens .fleetsync without following links and checks it is ours and writable by no one else."""
        try:
            dest_fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            if e.errno == errno.ENOENT and not create:
                return False
            self.fail('cannot open %s: %s' % (self.dest, e.strerror))
        try:
            if create:
                try:
                    os.mkdir(STATE, 0o700, dir_fd=dest_fd)
                except FileExistsError:
                    pass
            try:
                fd = os.open(STATE, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dest_fd)
            except OSError as e:
                if e.errno == errno.ENOENT and not create:
                    return False
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    self.fail('%s/%s is a symlink or not a folder: fleetsync keeps its state there; move it away'
                              % (self.dest, STATE))
                self.fail('cannot open %s/%s: %s' % (self.dest, STATE, e.strerror))
        finally:
            os.close(dest_fd)
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            os.close(fd)
            self.fail('%s/%s is not safe: it must be owned by uid %d (who runs fleetsync) and writable by no one else '
                      '(it is uid %d, mode %o); fix it with: chown %d %s/%s && chmod 700 %s/%s'
                      % (self.dest, STATE, os.geteuid(), st.st_uid, stat.S_IMODE(st.st_mode), os.geteuid(),
                         self.dest, STATE, self.dest, STATE))
        if create and stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
        self.fs_fd = fd
        # Path-based tools (aws, the check's log) reach the state folder through this descriptor, never by name:
        # renaming .fleetsync away and putting another in its place changes nothing for this run.
        proc = '/proc/%d/fd/%d' % (os.getpid(), fd)
        self.fs = proc if os.path.isdir(proc) else os.path.join(self.dest, STATE)
        return True

    def state_open(self, name, flags, mode=0o600):
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.fs_fd)

    def state_read(self, name):
        data = self.state_read_bytes(name)
        return None if data is None else data.decode('utf-8', 'replace')

    def state_read_bytes(self, name):
        try:
            fd = self.state_open(name, os.O_RDONLY)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            return b''.join(chunks)
        finally:
            os.close(fd)

    def state_write(self, name, text):
        """Atomically, durably: a temporary file beside it, flushed, renamed over it, the folder flushed."""
        tmp = '%s.tmp.%d' % (name, os.getpid())
        try:
            os.unlink(tmp, dir_fd=self.fs_fd)
        except FileNotFoundError:
            pass
        fd = self.state_open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            data = memoryview(text if isinstance(text, bytes) else text.encode())
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=self.fs_fd, dst_dir_fd=self.fs_fd)
        os.fsync(self.fs_fd)

    def state_remove(self, name):
        try:
            os.unlink(name, dir_fd=self.fs_fd)
            os.fsync(self.fs_fd)
        except FileNotFoundError:
            pass

    def state_mkdir(self, name):
        try:
            os.mkdir(name, 0o700, dir_fd=self.fs_fd)
        except FileExistsError:
            st = os.stat(name, dir_fd=self.fs_fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                self.fail('%s/%s/%s is not a folder: remove it' % (self.dest, STATE, name))

    def read_revision(self):
        if self.fs_fd < 0:
            return None
        text = self.state_read('REVISION')
        line = text.split('\n')[0] if text else ''
        return line if matches(RE_REVISION, line) else None

    def write_revision(self, revision):
        self.state_write('REVISION', revision + '\n')

    def read_journal(self):
        text = self.state_read('journal.json')
        if text is None:
            return None
        try:
            journal = json.loads(text)
            if isinstance(journal, dict) and matches(RE_REVISION, journal.get('revision')):
                return journal
        except ValueError:
            pass
        return {'strategy': 'unknown', 'revision': None}

    def take_lock(self, wait):
        self.lock_fd = self.state_open('lock', os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        self.locked = True
        return True

    def open_log(self):
        try:
            st = os.stat('sync.log', dir_fd=self.fs_fd, follow_symlinks=False)
            if st.st_size > LOG_ROTATE_BYTES:
                os.replace('sync.log', 'sync.log.1', src_dir_fd=self.fs_fd, dst_dir_fd=self.fs_fd)
        except FileNotFoundError:
            pass
        try:
            self.log_fd = self.state_open('sync.log', os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except OSError as e:
            self.fail('cannot write the log %s/%s/sync.log: %s' % (self.dest, STATE, e.strerror))

    def current_link(self):
        try:
            return os.readlink(os.path.join(self.dest, 'current'))
        except OSError:
            return None

    def switch_current(self, target):
        """Points <dest>/current at target atomically: a new link beside it, renamed over it."""
        tmp = os.path.join(self.dest, '.current.next.%d' % os.getpid())
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(target, tmp)
        os.replace(tmp, os.path.join(self.dest, 'current'))
        dest_fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dest_fd)
        finally:
            os.close(dest_fd)

    def recover(self):
        """Under the lock: finishes or undoes what a run that stopped midway left in the journal."""
        journal = self.read_journal()
        if journal is None:
            return
        if journal.get('strategy') == 'release':
            if self.read_revision() == journal['revision']:
                self.log('the switch to %s was checked before the last run stopped: keeping it' % journal['revision'])
            else:
                previous = journal.get('previousLink')
                # the journal is ours (a 0700 folder nobody else can write): its link is restored as it was
                if isinstance(previous, str) and previous and '\0' not in previous:
                    self.switch_current(previous)
                    self.log('rolled back an unfinished switch to %s: current -> %s again'
                             % (journal['revision'], previous))
                else:
                    try:
                        os.unlink(os.path.join(self.dest, 'current'))
                    except FileNotFoundError:
                        pass
                    self.log('rolled back an unfinished switch to %s: there was no release before it'
                             % journal['revision'])
            self.state_remove('journal.json')
        # inplace: the files are a mix of two revisions; the journal stays until a sync finishes, and until
        # then a probe reports no revision, so the controller syncs the host again.
