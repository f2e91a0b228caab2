#!/usr/bin/env bash
# fleetsync-sync.sh: brings a host's destination folder to one revision of the codebase, or reports the
# revision it holds. Run by the SSM document deploy/ssm/fleetsync-sync.json on EC2 hosts, and as a child
# process by the local fleet. The work is done by the agent in fleetsync_agent/ beside it (Python 3.9+, standard
# library only).
#
#   fleetsync-sync.sh --mode sync --source s3://BUCKET/PREFIX|file:///PATH --revision REV --destination /DIR
#                     [--strategy release|inplace] [--excludes 'media/*,var/*'] [--links 'media=/mnt/efs/media']
#                     [--check /PROGRAM] [--check-user USER] [--keep-releases 5] [--attempt-id ID]
#   fleetsync-sync.sh --mode probe --destination /DIR
#
# Lists are comma-separated; an empty value means none. Without --excludes the default is 'media/*,var/*'.
# With strategy release every exclude names a folder (FOLDER/*): it lives in DIR/shared/FOLDER, linked into
# each release, and is never deleted.
# stdout is exactly one line, FLEETSYNC-RESULT {json}; progress goes to DIR/.fleetsync/sync.log and stderr.
# Exit codes: 0 synced (or probed), 2 bad arguments, 3 sync failed, 4 check failed (link rolled back),
# 75 busy (another run holds DIR/.fleetsync/lock; retry later). Never 194 or 3010: SSM reads those as reboots.
# Environment: FLEETSYNC_S3_ENDPOINT_URL (optional http(s)://host[:port]) points aws at an S3-compatible store.
# On the host: DIR/current -> releases/REV, DIR/releases/REV, DIR/shared/FOLDER, and DIR/.fleetsync (mode 0700,
# root's alone): REVISION (written only once the check passed), journal.json (a switch in progress, rolled
# back by the next run), records/REV.tsv.gz (what was placed, gzip'd), lock, sync.log, aside/ (folders moved out of the way).
# Needs: python3 >= 3.9; the aws CLI (v1 or v2) for s3:// sources. Nothing else.
agent="$(dirname -- "${BASH_SOURCE[0]}")/fleetsync_agent"
fail() {
  printf 'fleetsync-sync: %s\n' "$1" >&2
  printf 'FLEETSYNC-RESULT {"revision":null,"status":"failed","error":"%s"}\n' "$1"
  exit 3
}
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed on this host: install python3 (3.9 or newer)"
# The interpreter itself, not a launcher (pyenv's shims rewrite PATH, and the agent finds aws on the caller's).
python=$(python3 -c 'import sys; print(sys.executable if sys.version_info >= (3, 9) else "")' 2>/dev/null)
[ -n "$python" ] || fail "python3 on this host is older than 3.9: install python3.9 or newer"
[ -r "$agent/__main__.py" ] || fail "the fleetsync agent (fleetsync_agent/) is missing beside this script"
# Until the agent's own handlers are in place, a cancel is ignored rather than killing it without a result line.
trap '' TERM INT HUP
exec "$python" -I -S -B -- "$agent" "$@"
