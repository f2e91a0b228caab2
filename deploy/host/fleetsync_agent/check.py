"""The fleet's check, run after the switch."""
from __future__ import annotations

import os
import subprocess

from common import CHECK_KILL_AFTER_SECONDS, CHECK_TIMEOUT_SECONDS, STATE


class CheckMixin:
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
