"""Constants, validation patterns and small helpers shared by every part of the agent."""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re

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
OBJECTS_FOLDER = 'objects'
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


def object_key(sha):
    """Where publish writes an object, relative to the source (state/manifest.ts objectKey): objects/ab/<sha256>."""
    return '%s/%s/%s' % (OBJECTS_FOLDER, sha[:2], sha)


def flat_object_key(sha):
    """Where stores published before sharding keep an object, relative to the source: objects/<sha256>."""
    return '%s/%s' % (OBJECTS_FOLDER, sha)


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


def manifest_digest(entries):
    """The digest publish writes in a manifest's header and in deltas (canonicalText of state/manifest.ts): SHA-256
    of `path TAB sha256 TAB size TAB mode LF` per entry, paths in UTF-16 code unit order as publish sorts them
    (UTF-16BE bytes compare in that order). entries: path -> (sha256, size, mode as an int)."""
    lines = ['%s\t%s\t%d\t%03o\n' % (p, entries[p][0], entries[p][1], entries[p][2])
             for p in sorted(entries, key=lambda p: p.encode('utf-16-be'))]
    return hashlib.sha256(''.join(lines).encode('utf-8')).hexdigest()
