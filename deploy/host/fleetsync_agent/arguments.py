"""Arguments: parsed and validated before anything touches the disk."""
from __future__ import annotations

import os

from common import DEFAULT_EXCLUDES, FLAGS, MAX_KEEP_RELEASES, MIN_KEEP_RELEASES, RE_ATTEMPT_ID, RE_CHECK_COMMAND, RE_CHECK_USER, RE_DESTINATION, RE_ENDPOINT_URL, RE_EXCLUDE, RE_FILE_SOURCE, RE_KEEP_RELEASES, RE_LINK_NAME, RE_MODE, RE_REVISION, RE_S3_SOURCE, RE_SHARED_EXCLUDE, RE_STRATEGY, has_dot_segment, matches, normalize_path, shown, system_folder


class ArgumentsMixin:
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
            target = self.check_folder('link target of ' + name, target)
            # an app writes through the link: it must not land in a system folder through a symlink either
            if os.path.lexists(target) and system_folder(os.path.realpath(target)):
                self.bad_args('link target of %s %s resolves to the system folder %s: use a folder of its own'
                              % (name, target, os.path.realpath(target)))
            self.link_targets.append(target)
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
