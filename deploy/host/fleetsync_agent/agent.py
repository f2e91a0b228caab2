"""The host agent: one run, a sync or a probe, built from the parts in this folder."""
from __future__ import annotations

import os
import shutil
import time

from common import EXIT_BAD_ARGUMENTS, EXIT_BUSY, EXIT_CHECK_FAILED, EXIT_SYNCED, EXIT_SYNC_FAILED, Finish, RESULT_MAX_CHARS, STATE, exclude_regex, json_line
from records import RecordsMixin
from arguments import ArgumentsMixin
from statefolder import StateFolderMixin
from sources import SourcesMixin
from delta import DeltaMixin
from objects import ObjectsMixin
from layout import LayoutMixin
from build import BuildMixin
from release import ReleaseMixin
from check import CheckMixin
from inplace import InplaceMixin


class Agent(RecordsMixin, ArgumentsMixin, StateFolderMixin, SourcesMixin, DeltaMixin, ObjectsMixin, LayoutMixin, BuildMixin, ReleaseMixin, CheckMixin, InplaceMixin):
    """One run of the host agent: a sync or a probe of one destination."""

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
        # revision -> Record (or None): each kept release's record is read once a run
        self.records = {}
        self.exclude_rx = None
        # a published revision's manifest: its digest (kept in the record, the base of the next delta) and the
        # entries excludes left out of self.wanted (path -> Entry), which the record keeps too
        self.manifest_digest = None
        self.manifest_excluded = {}
        # inodes that reached the file system's link limit (ext4: 65,000) in this run
        self.saturated = set()
        self.hashed = 0

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

    def sync(self):
        self.check_ancestors()
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
