#!/usr/bin/env python3
# fleetsync host agent: run by fleetsync-sync.sh (which checks for python3 >= 3.9 and runs this folder).
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
"""Entry point: run by fleetsync-sync.sh as `python3 -I -S -B <this folder>`; prints exactly one result line."""
from __future__ import annotations

import os
import signal
import sys

from common import EXIT_SYNCED, EXIT_SYNC_FAILED, Finish, Interrupted, STATE
from agent import Agent


SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def on_signal(signum, frame):
    # The first signal ends the run; those after it (a cancel sent again and again) wait, blocked, until the
    # process exits: the clean-up and the one result line are never cut short.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    raise Interrupted(signal.Signals(signum).name)


def outcome(agent, argv):
    """The run's Finish, whatever was raised; a signal that lands while an outcome is being decided ends it too."""
    try:
        try:
            agent.run(argv)
            return Finish(EXIT_SYNCED, 'synced')
        except Finish as f:
            return f
        except Interrupted as e:
            return Finish(EXIT_SYNC_FAILED, 'failed', 'interrupted by %s' % e)
        except Exception as e:  # anything unforeseen still ends in one result line and a rolled-back switch
            import traceback
            agent.log(traceback.format_exc())
            return Finish(EXIT_SYNC_FAILED, 'failed', 'unexpected failure (%s: %s); see the log %s/%s/sync.log'
                          % (type(e).__name__, e, agent.dest, STATE))
    except Interrupted as e:
        return Finish(EXIT_SYNC_FAILED, 'failed', 'interrupted by %s' % e)


def main(argv):
    # The real stdout carries only the result line; anything else any tool prints goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    os.umask(0o022)
    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    agent = Agent()
    finish = outcome(agent, argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    agent.cleanup(finish)
    os.write(out, agent.result_line(finish).encode())
    return finish.code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
