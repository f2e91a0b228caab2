#!/usr/bin/env python3
# fleetsync host agent: run by fleetsync-sync.sh (which checks for python3 >= 3.9 and execs this file).
# Standard library only. Arguments, exit codes, the result line and the on-host layout are the Contract's:
# see fleetsync-sync.sh's header and README ("On a host").
#
# Safety, in one place:
# - A release counts only once its check passed: the switch is written to .fleetsync/journal.json before the
#   link moves, REVISION only after the check, and an unfinished switch is rolled back from the journal by the
#   signal handler and at the start of the next run (sync or probe), whatever killed the last one.
# - Excluded folders (FOLDER/*) live in <dest>/shared/FOLDER, outside every release, linked into each one; a
#   link never goes over a non-empty real folder (its content is moved aside under .fleetsync/aside/), and
#   nothing under an exclude is ever deleted.
# - The state folder is trusted only when it is ours and writable by no one else; it is opened once, without
#   following links, and everything in it is reached through that descriptor.
# - Files a run placed are recorded (size, inode, ctime, which no user can set back): a kept release that is
#   as it was placed goes live again without a download or a hash.
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

EXIT_SYNCED, EXIT_BAD_ARGUMENTS, EXIT_SYNC_FAILED, EXIT_CHECK_FAILED, EXIT_BUSY = 0, 2, 3, 4, 75

# Validation patterns: the same as state/validate.ts PATTERNS (test/host/document.test.ts proves it); the SSM
# document's allowedPatterns are built from these lines.
RE_MODE = r'^(sync|probe)$'
RE_STRATEGY = r'^(release|inplace)$'
RE_REVISION = r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'
RE_DESTINATION = r'^/[A-Za-z0-9._/-]{1,255}$'
RE_EXCLUDE = r'^[A-Za-z0-9._*?/-]{1,256}$'
RE_LINK_NAME = r'^[A-Za-z0-9._-]{1,128}(/[A-Za-z0-9._-]{1,128})*$'
RE_CHECK_COMMAND = r'^/[A-Za-z0-9._/-]{1,255}$'
RE_CHECK_USER = r'^[a-z_][a-z0-9_-]{0,31}$'
RE_S3_SOURCE = r'^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]{0,900})?$'
RE_FILE_SOURCE = r'^file:///[A-Za-z0-9._/-]{0,1000}$'
RE_KEEP_RELEASES = r'^[0-9]{1,3}$'
RE_ATTEMPT_ID = r'^[A-Za-z0-9._-]{1,64}$'
RE_ENDPOINT_URL = r'^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?$'
RE_SHARED_EXCLUDE = r'^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/\*$'
MIN_KEEP_RELEASES, MAX_KEEP_RELEASES = 1, 100
# The same lists as state/validate.ts: a destination under a system tree is refused; a shared root only as itself.
# ("/lib*": any top folder whose name starts with lib: /lib, /lib32, /lib64, /libx32)
SYSTEM_TREES = ('/bin', '/boot', '/dev', '/etc', '/lib*', '/proc', '/root', '/run', '/sbin', '/sys', '/usr',
                '/var/cache', '/var/lib', '/var/log', '/var/spool')
SHARED_ROOTS = ('/', '/home', '/media', '/mnt', '/opt', '/srv', '/tmp', '/var', '/var/tmp')
DEFAULT_EXCLUDES = 'media/*,var/*'
CHECK_TIMEOUT_SECONDS = 300
CHECK_KILL_AFTER_SECONDS = 10
LOG_ROTATE_BYTES = 1048576
# SSM keeps only the first 2,500 characters of output: the result line stays well under that.
RESULT_MAX_CHARS = 990
MANIFEST_HEADER = '{"apiVersion":"fleetsync.dev/v1","kind":"Manifest",'
NO_FILES = 'holds no files and no manifest.json (an interrupted publish leaves none: publish again)'
SPARE_BYTES = 64 << 20
STATE = '.fleetsync'
RECORD_VERSION = 'fleetsync-record/v1'
FLAGS = ('--mode', '--source', '--revision', '--destination', '--strategy', '--excludes', '--links', '--check',
         '--check-user', '--keep-releases', '--attempt-id')


class Finish(Exception):
    def __init__(self, code, status, error=''):
        super().__init__(error or status)
        self.code, self.status, self.error = code, status, error


class Interrupted(Exception):
    pass


def matches(pattern, value):
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def shown(value):
    s = value if len(value) <= 80 else value[:80] + '...'
    return json.dumps(''.join(c if ' ' <= c <= '~' else '?' for c in s))


def normalize_path(path):
    return '/' + '/'.join(seg for seg in path.split('/') if seg not in ('', '.'))


def system_folder(path):
    """Why a normalized absolute path must not be synced into, or ''."""
    if path in SHARED_ROOTS:
        return 'is a system folder'
    segments = path.strip('/').split('/')
    for tree in SYSTEM_TREES:
        parts = tree.strip('/').split('/')
        if len(segments) >= len(parts) and all(
                seg.startswith(part[:-1]) if part.endswith('*') else seg == part for seg, part in zip(segments, parts)):
            top = '/' + '/'.join(segments[:len(parts)])
            return 'is a system folder' if path == top else 'is inside the system folder ' + top
    return ''


def has_dot_segment(path):
    return any(seg in ('', '.', '..') for seg in path.split('/'))


def json_line(fields):
    return json.dumps(fields, separators=(',', ':'), ensure_ascii=True)


def exclude_regex(patterns):
    """A path is excluded when it, or a folder above it, matches: * crosses folders, ? does not; FOLDER/* also
    covers FOLDER itself, so it is never created, replaced or deleted."""
    alternatives = []
    for p in patterns:
        if len(p) > 2 and p.endswith('/*'):
            p = p[:-2]
        alternatives.append(''.join('.*' if c == '*' else '[^/]' if c == '?' else re.escape(c) for c in p))
    if not alternatives:
        return None
    return re.compile('^(?:' + '|'.join(alternatives) + ')(?:/|$)')


def file_digest(path, algorithm='sha256'):
    """Hex digest of a file's content; md5 only to compare with S3's ETags, never as a security check."""
    h = hashlib.new(algorithm)
    with open(path, 'rb', buffering=0) as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def copy_file(src, dst, mode):
    """Copies src to a new file dst (never through an existing one) and hashes what it wrote."""
    h = hashlib.sha256()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(src, 'rb', buffering=0) as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return h.hexdigest()


def syncfs(path):
    """Flushes the file system holding path: a switched link must never point at files still in page cache."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


class Entry:
    """A wanted file, link or folder of a release."""
    __slots__ = ('kind', 'sha', 'size', 'mode', 'target', 'source')

    def __init__(self, kind, sha='', size=0, mode=0o644, target='', source=''):
        self.kind, self.sha, self.size, self.mode, self.target, self.source = kind, sha, size, mode, target, source


class Record:
    """What a run placed in one release: path -> (sha256, mode, size, inode, ctime_ns)."""

    def __init__(self, excludes, files, links, dirs):
        self.excludes, self.files, self.links, self.dirs = excludes, files, links, dirs

    def dump(self):
        lines = [json_line({'format': RECORD_VERSION, 'excludes': self.excludes})]
        for path in sorted(self.dirs):
            lines.append('d\t' + path)
        for path, target in sorted(self.links.items()):
            lines.append('l\t%s\t%s' % (path, target))
        for path, (sha, mode, size, ino, ctime) in sorted(self.files.items()):
            lines.append('f\t%s\t%o\t%d\t%d\t%d\t%s' % (sha, mode, size, ino, ctime, path))
        return '\n'.join(lines) + '\n'

    @staticmethod
    def parse(text):
        lines = text.split('\n')
        head = json.loads(lines[0])
        if head.get('format') != RECORD_VERSION:
            raise ValueError('unknown record format')
        files, links, dirs = {}, {}, set()
        for line in lines[1:]:
            if not line:
                continue
            parts = line.split('\t')
            if parts[0] == 'd':
                dirs.add(parts[1])
            elif parts[0] == 'l':
                links[parts[1]] = parts[2]
            elif parts[0] == 'f' and len(parts) == 7:
                files[parts[6]] = (parts[1], int(parts[2], 8), int(parts[3]), int(parts[4]), int(parts[5]))
            else:
                raise ValueError('bad record line')
        return Record(head.get('excludes'), files, links, dirs)


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


class Agent:
    def __init__(self):
        self.start = time.monotonic()
        self.mode = self.source = self.revision = self.dest = self.check = self.check_user = ''
        self.strategy, self.keep, self.attempt = 'release', 5, 'manual'
        self.excludes, self.link_names, self.link_targets = [], [], []
        self.endpoint = []
        self.result = {'revision': None}
        self.counts = {}
        self.log_fd = -1
        self.fs_fd = -1
        self.fs = ''
        self.lock_fd = -1
        self.locked = False
        self.staging = ''
        self.work = ''
        self.child = None
        self.ledger = {}
        self.hashed = 0

    # ---------------------------------------------------------------------------------------------------
    # Output

    def log(self, message):
        line = '%s [%s] %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), self.attempt, message)
        try:
            os.write(2, line.encode('utf-8', 'replace'))
        except OSError:
            pass
        if self.log_fd >= 0:
            try:
                os.write(self.log_fd, line.encode('utf-8', 'replace'))
            except OSError:
                pass

    def fail(self, message):
        raise Finish(EXIT_SYNC_FAILED, 'failed', message)

    def bad_args(self, message):
        os.write(2, ('fleetsync-sync: %s\n' % message).encode())
        raise Finish(EXIT_BAD_ARGUMENTS, 'badArguments', message)

    def result_line(self, finish):
        fields = dict(self.result)
        fields['status'] = finish.status
        fields.update(self.counts)
        if self.mode == 'sync' and finish.status not in ('badArguments', 'busy'):
            fields['hashedFiles'] = self.hashed
        fields['seconds'] = int(time.monotonic() - self.start)
        if self.attempt:
            fields['attempt'] = self.attempt
        if self.fs and os.path.exists(os.path.join(self.dest, STATE, 'sync.log')):
            fields['log'] = os.path.join(self.dest, STATE, 'sync.log')
        line = json_line(fields)
        error = finish.error
        if error:
            self.log('error: ' + error)
            line = json_line(dict(fields, error=error))
            while len(line) > RESULT_MAX_CHARS:
                error = error[:max(0, len(error) - (len(line) - RESULT_MAX_CHARS) - 3)] + '...'
                line = json_line(dict(fields, error=error))
        return 'FLEETSYNC-RESULT ' + line + '\n'

    # ---------------------------------------------------------------------------------------------------
    # Arguments: parsed and validated before anything touches the disk.

    def parse_args(self, argv):
        values = {}
        i = 0
        while i < len(argv):
            flag = argv[i]
            if flag not in FLAGS:
                self.bad_args('unknown argument %s (flags: %s)' % (shown(flag), ' '.join(FLAGS)))
            if i + 1 >= len(argv):
                self.bad_args('%s needs a value' % flag)
            if flag in values:
                self.bad_args('%s is given twice: give it once' % flag)
            value = argv[i + 1]
            i += 2
            # Newlines, control characters and non-ASCII bytes are never valid: refuse them before any splitting.
            if any(not ' ' <= c <= '~' for c in value):
                self.bad_args('%s %s holds a newline, control character or non-ASCII byte' % (flag, shown(value)))
            values[flag] = value
        return values

    def check_folder(self, what, value):
        if not matches(RE_DESTINATION, value):
            self.bad_args('%s %s is not valid: use an absolute path of letters, digits and . _ - / (like /var/www/app)'
                          % (what, shown(value)))
        if '..' in value.split('/'):
            self.bad_args('%s %s must not contain a ".." segment' % (what, shown(value)))
        normalized = normalize_path(value)
        why = system_folder(normalized)
        if why:
            self.bad_args('%s %s %s: use a folder of its own (like /var/www/app)' % (what, shown(value), why))
        return normalized

    @staticmethod
    def split_list(raw):
        if raw == '':
            return []
        items = raw.split(',')
        return None if any(item == '' for item in items) else items

    def validate(self, values):
        self.mode = values.get('--mode', '')
        self.attempt = values.get('--attempt-id', 'manual')
        if not self.mode:
            self.attempt = self.attempt if matches(RE_ATTEMPT_ID, self.attempt) else ''
            self.bad_args('--mode is required: sync or probe')
        if not matches(RE_MODE, self.mode):
            self.attempt = ''
            self.bad_args('--mode %s is not valid: use sync or probe' % shown(self.mode))
        if not matches(RE_ATTEMPT_ID, self.attempt):
            bad = self.attempt
            self.attempt = ''
            self.bad_args('--attempt-id %s is not valid: use 1-64 letters, digits and . _ -' % shown(bad))
        dest = values.get('--destination', '')
        if not dest:
            self.bad_args('--destination is required (an absolute folder like /var/www/app)')
        self.dest = self.check_folder('--destination', dest)
        # A destination reached through a symlink must not land in a system folder either.
        if os.path.lexists(self.dest):
            resolved = os.path.realpath(self.dest)
            if system_folder(resolved):
                self.bad_args('--destination %s resolves to the system folder %s: use a folder of its own'
                              % (self.dest, resolved))
        self.source = values.get('--source', '')
        self.revision = values.get('--revision', '')
        if self.mode == 'sync':
            if not self.source:
                self.bad_args('--source is required for a sync (s3://bucket/prefix or file:///path)')
            if not self.revision:
                self.bad_args('--revision is required for a sync and must not be empty')
        if self.revision or self.mode == 'sync':
            if not matches(RE_REVISION, self.revision):
                self.bad_args('--revision %s is not valid: use 1-128 letters, digits, dots, dashes and underscores, '
                              'starting with a letter or digit (like 3f9c2ab)' % shown(self.revision))
        if self.source and (not (matches(RE_S3_SOURCE, self.source) or matches(RE_FILE_SOURCE, self.source))
                            or '..' in self.source.split('/')):
            self.bad_args('--source %s is not valid: use s3://bucket/prefix or file:///absolute/path '
                          '(letters, digits, . _ - /)' % shown(self.source))
        self.strategy = values.get('--strategy', 'release')
        if not matches(RE_STRATEGY, self.strategy):
            self.bad_args('--strategy %s is not valid: use release or inplace' % shown(self.strategy))
        raw = values.get('--excludes', DEFAULT_EXCLUDES)
        items = self.split_list(raw)
        if items is None:
            self.bad_args('--excludes %s has an empty item: separate patterns with single commas' % shown(raw))
        for item in items:
            if not matches(RE_EXCLUDE, item) or item.startswith('/'):
                self.bad_args('exclude %s is not valid: use a relative pattern of letters, digits, . _ - / * ? '
                              '(like media/*)' % shown(item))
            if '..' in item.split('/'):
                self.bad_args('exclude %s must not contain a ".." segment' % shown(item))
            if self.strategy == 'release' and (not matches(RE_SHARED_EXCLUDE, item) or has_dot_segment(item[:-2])):
                self.bad_args('exclude %s cannot be used with strategy release: excluded folders live in '
                              '<destination>/shared/FOLDER, so an exclude must name a folder as FOLDER/* (like media/*); '
                              'use strategy inplace for other patterns' % shown(item))
            self.excludes.append(item)
        raw = values.get('--links', '')
        items = self.split_list(raw)
        if items is None:
            self.bad_args('--links %s has an empty item: separate name=target pairs with single commas' % shown(raw))
        for item in items:
            if '=' not in item:
                self.bad_args('link %s is not valid: use name=/absolute/folder (like media=/mnt/efs/media)' % shown(item))
            name, target = item.split('=', 1)
            if not matches(RE_LINK_NAME, name) or has_dot_segment(name):
                self.bad_args('link name %s is not valid: use a relative name of letters, digits and . _ - / without '
                              '. or .. segments (like media)' % shown(name))
            self.link_names.append(name)
            self.link_targets.append(self.check_folder('link target of ' + name, target))
        if self.strategy == 'release':
            self.check_layout()
        if self.strategy == 'inplace' and self.link_names:
            self.bad_args('--links needs --strategy release (inplace syncs straight into the destination)')
        self.check = values.get('--check', '')
        if self.check and (not matches(RE_CHECK_COMMAND, self.check) or '..' in self.check.split('/')):
            self.bad_args('--check %s is not valid: use the absolute path of a program without arguments '
                          '(like /usr/local/bin/app-healthcheck)' % shown(self.check))
        self.check_user = values.get('--check-user', '')
        if self.check_user and not matches(RE_CHECK_USER, self.check_user):
            self.bad_args('--check-user %s is not valid: use a Linux user name (like www-data)' % shown(self.check_user))
        if self.check_user and not self.check:
            self.bad_args('--check-user needs --check: it names the user the check runs as')
        keep = values.get('--keep-releases', '5')
        if not matches(RE_KEEP_RELEASES, keep):
            self.bad_args('--keep-releases %s is not valid: use a whole number from %d to %d'
                          % (shown(keep), MIN_KEEP_RELEASES, MAX_KEEP_RELEASES))
        self.keep = int(keep, 10)
        if not MIN_KEEP_RELEASES <= self.keep <= MAX_KEEP_RELEASES:
            self.bad_args('--keep-releases %s is out of range: use a whole number from %d to %d'
                          % (keep, MIN_KEEP_RELEASES, MAX_KEEP_RELEASES))
        endpoint = os.environ.get('FLEETSYNC_S3_ENDPOINT_URL', '')
        if endpoint:
            if not matches(RE_ENDPOINT_URL, endpoint):
                self.bad_args('FLEETSYNC_S3_ENDPOINT_URL %s is not valid: use http(s)://host[:port]' % shown(endpoint))
            self.endpoint = ['--endpoint-url', endpoint]
        if self.mode == 'sync':
            self.result['target'] = self.revision
            self.result['strategy'] = self.strategy

    def check_layout(self):
        """Shared folders and links are each one link in a release: none may hold another (the same rule as
        state/validate.ts's releaseExcludeProblems)."""
        folders = [p[:-2] for p in self.excludes]
        within = lambda inner, outer: inner.startswith(outer + '/')
        for i, a in enumerate(folders):
            for b in folders[i + 1:]:
                if a == b or within(a, b) or within(b, a):
                    self.bad_args('excludes %s and %s overlap: each excluded folder is one link to %s/shared/; list '
                                  'the outer folder only' % (shown(a + '/*'), shown(b + '/*'), self.dest))
            for name in self.link_names:
                if within(a, name) or within(name, a):
                    self.bad_args('exclude %s and link %s overlap: a folder of a release is either a shared folder or '
                                  'a link; keep one of them' % (shown(a + '/*'), shown(name)))

    # ---------------------------------------------------------------------------------------------------
    # The state folder: <dest>/.fleetsync, ours alone.

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
            return b''.join(chunks).decode('utf-8', 'replace')
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
            os.write(fd, text.encode())
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

    # ---------------------------------------------------------------------------------------------------
    # The journal: an unfinished switch is rolled back, whatever stopped the run that made it.

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
                if isinstance(previous, str) and previous.startswith('releases/') \
                        and matches(RE_REVISION, previous[len('releases/'):]):
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

    # ---------------------------------------------------------------------------------------------------
    # Probe: reports the checked revision; writes only to roll back an unfinished switch.

    def probe(self):
        if not self.open_state(create=False):
            raise Finish(EXIT_SYNCED, 'probed')
        journal = self.read_journal()
        if journal is not None and journal.get('strategy') == 'release' and self.take_lock(wait=False):
            self.open_log()
            self.recover()
            journal = self.read_journal()
        revision = self.read_revision()
        if os.path.islink(os.path.join(self.dest, 'current')):
            self.result['strategy'] = 'release'
        elif revision or (journal and journal.get('strategy') == 'inplace'):
            self.result['strategy'] = 'inplace'
        if journal is not None and journal.get('strategy') != 'release':
            revision = None
        self.result['revision'] = revision
        raise Finish(EXIT_SYNCED, 'probed')

    # ---------------------------------------------------------------------------------------------------
    # Sources: what the revision holds (path -> Entry), fetched or read where it lies.

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
                contents = (json.loads(listing) if listing.strip() else {}).get('Contents') or []
            except ValueError:
                self.fail('cannot read the listing of s3://%s/%s' % (bucket, key_prefix))
            if not contents:
                self.fail('revision %s not found: s3://%s/%s %s' % (self.revision, bucket, key_prefix, NO_FILES))
            manifest_key = key_prefix + 'manifest.json'
            if any(item.get('Key') == manifest_key for item in contents):
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
            self.wanted = self.read_manifest(manifest)
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
            wanted[p] = Entry('f', sha=m.group(2), size=size, mode=int(m.group(4), 8))
        if not ended:
            bad('line %d: no ]}' % (len(lines) + 1))
        if int(head.group(1)) != len(wanted) or int(head.group(2)) != total:
            bad('totals do not add up')
        if not wanted:
            bad('no files')
        kept = self.drop_excluded(wanted)
        self.log('manifest: %d files (%d more excluded), %d bytes' % (len(kept), len(wanted) - len(kept), total))
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
        if not any(e.kind != 'd' for e in wanted.values()) and not os.listdir(src):
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
        etags, reused, not_reusable = {}, {}, 0
        for item in contents:
            key, etag = item.get('Key', ''), str(item.get('ETag', '')).strip('"')
            rel = key[len(key_prefix):] if key.startswith(key_prefix) else ''
            if not rel or rel.endswith('/') or has_dot_segment(rel) or (rx and rx.match(rel)):
                continue
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

    # ---------------------------------------------------------------------------------------------------
    # Published content: objects by SHA-256, downloaded once, checked before use.

    def fetch_objects(self, shas, sizes):
        """Downloads the objects named into WORK/o; returns sha -> path of those that arrived and match."""
        odir = self.work + '/o'
        os.makedirs(odir, exist_ok=True)
        need = sorted(shas)
        if self.objects.startswith('s3://'):
            self.download_objects(need, odir)
        else:
            for sha in need:
                try:
                    shutil.copyfile(self.objects + sha, os.path.join(odir, sha), follow_symlinks=False)
                except OSError:
                    pass
        got = {}
        for sha in need:
            path = os.path.join(odir, sha)
            if os.path.isfile(path) and not os.path.islink(path):
                self.hashed += 1
                if file_digest(path) == sha:
                    got[sha] = path
                    continue
            self.fail('object %s is missing from %s or does not match its SHA-256: delete it and publish %s again'
                      % (sha, self.objects, self.revision))
        moved = self.counts.get('_storeDownload')
        self.counts.pop('_storeDownload', None)
        self.counts['downloadedFiles'] = moved[0] if moved else len(got)
        self.counts['downloadedBytes'] = moved[1] if moved else sum(sizes[s] for s in got)
        return got

    def free_bytes(self):
        st = os.statvfs(self.fs)
        return st.f_bavail * st.f_frsize

    def download_objects(self, need, odir):
        """The aws CLI checks every listed key against every --include (about 24 us each): fine for a few objects,
        hours for a first sync of a large codebase. So: when most of the store is wanted it is synced whole (if the
        disk has room); a handful from a large store go one process each, 8 at a time; only what is left pays for
        the includes."""
        m, n, total = len(need), 0, 0
        if m > 8:
            listing = self.aws(['s3', 'ls', self.objects], 'listing %s' % self.objects, capture=True)
            for line in listing.split('\n'):
                parts = line.split()
                if len(parts) == 4 and re.fullmatch(r'[0-9a-f]{64}', parts[3]) and parts[2].isdigit():
                    n += 1
                    total += int(parts[2])
        self.log('%d objects needed; the store holds %d (%d bytes)' % (m, n, total))
        if m * n > 200000 and n <= 4 * m and total + SPARE_BYTES <= self.free_bytes():
            self.log('downloading all %d objects of %s (%d bytes): %d of them are needed' % (n, self.objects, total, m))
            self.counts['_storeDownload'] = (n, total)
            self.aws(['s3', 'sync', self.objects, odir + '/', '--only-show-errors', '--no-progress'],
                     'downloading %s' % self.objects)
        elif m * n > 200000 and m <= 64:
            self.log('downloading %d objects of %d, one process each' % (m, n))
            pending = list(need)
            running = []
            while pending or running:
                while pending and len(running) < 8:
                    sha = pending.pop()
                    running.append(subprocess.Popen(
                        ['aws'] + self.endpoint + ['s3', 'cp', '--only-show-errors', self.objects + sha,
                                                   os.path.join(odir, sha)],
                        stdin=subprocess.DEVNULL, stdout=self.log_fd, stderr=self.log_fd))
                running.pop(0).wait()
        else:
            self.log('downloading %d objects by name' % m)
            for i in range(0, m, 500):
                args = ['s3', 'cp', self.objects, odir + '/', '--recursive', '--only-show-errors', '--exclude', '*']
                for sha in need[i:i + 500]:
                    args += ['--include', sha]
                self.aws(args, 'downloading objects from %s' % self.objects)

    # ---------------------------------------------------------------------------------------------------
    # Records and the ctime ledger.

    def record_path(self, revision):
        return 'records/%s.tsv' % revision

    def load_record(self, revision):
        text = self.state_read(self.record_path(revision))
        if text is None:
            return None
        try:
            return Record.parse(text)
        except (ValueError, IndexError):
            return None

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
        """Rewrites the records of kept releases: an entry stays trusted if its file is untouched, or changed only
        by what this run did to its inode; anything else drops out (that file will be hashed before reuse)."""
        self.drop_work()
        for revision in revisions:
            record = self.load_record(revision)
            if record is None:
                continue
            base = os.path.join(self.dest, 'releases', revision)
            changed = False
            for path, rec in list(record.files.items()):
                sha, mode, size, ino, ctime = rec
                try:
                    st = os.lstat(os.path.join(base, path))
                except OSError:
                    st = None
                if st is not None and stat.S_ISREG(st.st_mode) and st.st_ino == ino and st.st_size == size \
                        and stat.S_IMODE(st.st_mode) == mode:
                    if st.st_ctime_ns == ctime:
                        continue
                    if ctime in self.ledger.get(ino, ()):
                        record.files[path] = (sha, mode, size, ino, st.st_ctime_ns)
                        changed = True
                        continue
                del record.files[path]
                changed = True
            if changed:
                self.state_write(self.record_path(revision), record.dump())

    # ---------------------------------------------------------------------------------------------------
    # Release strategy.

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

    def index_sources(self, releases):
        """sha256 -> [(path, record entry)] of trusted files in kept releases, for linking instead of fetching."""
        index = {}
        for revision in releases:
            record = self.load_record(revision)
            if record is None:
                continue
            base = os.path.join(self.dest, 'releases', revision)
            for path, rec in record.files.items():
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
                if want_mode != (rec[1] == mode):
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
                self.log('%s has too many links: copying it' % src)
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
        self.state_mkdir('records')
        self.state_write(self.record_path(revision), Record(self.excludes, files, links, dirs).dump())

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

    def live_files(self, live):
        """The live release's files as its record has them (trusted), or None when it has no usable record."""
        if not live:
            return {}
        record = self.load_record(os.path.basename(live))
        if record is None:
            return None
        out = {}
        for path, rec in record.files.items():
            if intact(os.path.join(live, path), rec) is not None:
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
            self.state_remove(self.record_path(name))
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
        previous_link = self.current_link() if live else None
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

    # ---------------------------------------------------------------------------------------------------
    # The check.

    def run_check(self, folder):
        if not self.check:
            return True, ''
        if not (os.path.isfile(self.check) and os.access(self.check, os.X_OK)):
            return False, 'check command %s is not an executable file on this host' % self.check
        kwargs = {}
        if self.check_user:
            import pwd
            try:
                user = pwd.getpwnam(self.check_user)
            except KeyError:
                return False, 'check user %s does not exist on this host' % self.check_user
            if os.geteuid() != 0 and user.pw_uid != os.geteuid():
                return False, 'cannot run the check as %s: the agent does not run as root' % self.check_user
            if os.geteuid() == 0:
                kwargs = {'user': user.pw_uid, 'group': user.pw_gid, 'extra_groups': []}
        self.log('running the check %s%s' % (self.check, ' as ' + self.check_user if self.check_user else ''))
        env = dict(os.environ, FLEETSYNC_REVISION=self.revision, FLEETSYNC_DESTINATION=self.dest,
                   FLEETSYNC_RELEASE_DIR=os.path.realpath(folder))
        # In this process group (a kill of the group kills the check too); without the lock's descriptor or the
        # result line's: a daemon the check starts must hold neither open.
        self.child = subprocess.Popen([self.check], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                      stdout=self.log_fd, stderr=self.log_fd, close_fds=True, **kwargs)
        try:
            code = self.child.wait(CHECK_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.child.terminate()
            try:
                self.child.wait(CHECK_KILL_AFTER_SECONDS)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
            self.child = None
            return False, 'check %s did not finish within %d seconds; see %s/%s/sync.log' % (
                self.check, CHECK_TIMEOUT_SECONDS, self.dest, STATE)
        self.child = None
        if code == 0:
            return True, ''
        return False, 'check %s failed with exit code %d; see %s/%s/sync.log' % (
            self.check, code if code >= 0 else 128 - code, self.dest, STATE)

    # ---------------------------------------------------------------------------------------------------
    # Inplace: straight into the destination, every changed file written aside then renamed in.

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

    # ---------------------------------------------------------------------------------------------------

    def sync(self):
        try:
            os.makedirs(self.dest, 0o755, exist_ok=True)
        except OSError as e:
            self.fail('cannot create %s: %s' % (self.dest, e.strerror))
        self.open_state(create=True)
        if not self.take_lock(wait=False):
            self.result['revision'] = self.read_revision()
            raise Finish(EXIT_BUSY, 'busy', 'another fleetsync sync is running on this host (it holds %s/%s/lock); '
                         'retry when it has finished' % (self.dest, STATE))
        self.open_log()
        self.recover()
        self.result['revision'] = self.read_revision()
        self.log('sync %s from %s into %s (strategy %s, excludes: %s, current: %s)' % (
            self.revision, self.source, self.dest, self.strategy, ' '.join(self.excludes) or 'none',
            self.result['revision'] or 'none'))
        if os.path.lexists(self.state_path('work')):
            shutil.rmtree(self.state_path('work'))
        self.state_mkdir('work')
        self.work = self.state_path('work')
        # Links belong to fleetsync, not to the revision: syncs neither copy over nor delete them.
        self.exclude_rx = exclude_regex(self.excludes + self.link_names + ([STATE] if self.strategy == 'inplace' else []))
        if self.strategy == 'release':
            self.sync_release()
        self.sync_inplace()

    def run(self, argv):
        self.validate(self.parse_args(argv))
        if self.mode == 'probe':
            self.probe()
        self.sync()

    def cleanup(self, finish):
        """Signals blocked: whatever happens here runs to the end, and the result line is printed once."""
        if self.child is not None:
            try:
                self.child.kill()
            except OSError:
                pass
        if self.locked:
            try:
                if finish.code not in (EXIT_SYNCED, EXIT_CHECK_FAILED):
                    self.recover()
                    self.result['revision'] = self.read_revision()
                    journal = self.read_journal()
                    if journal is not None and journal.get('strategy') == 'inplace':
                        self.result['revision'] = None
                if self.staging and os.path.lexists(self.staging):
                    self.remove_release(self.staging)
                if self.work and os.path.lexists(self.work):
                    shutil.rmtree(self.work, ignore_errors=True)
            except (OSError, Finish) as e:
                self.log('warning: cleaning up failed: %s' % e)


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main(argv):
    # The real stdout carries only the result line; anything else any tool prints goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    os.umask(0o022)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    agent = Agent()
    agent.exclude_rx = None
    try:
        agent.run(argv)
        finish = Finish(EXIT_SYNCED, 'synced')
    except Finish as f:
        finish = f
    except Interrupted as e:
        finish = Finish(EXIT_SYNC_FAILED, 'failed', 'interrupted by %s' % e)
    except Exception as e:  # anything unforeseen still ends in one result line and a rolled-back switch
        import traceback
        agent.log(traceback.format_exc())
        finish = Finish(EXIT_SYNC_FAILED, 'failed', 'unexpected failure (%s: %s); see the log %s/%s/sync.log'
                        % (type(e).__name__, e, agent.dest, STATE))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    agent.cleanup(finish)
    os.write(out, agent.result_line(finish).encode())
    return finish.code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
