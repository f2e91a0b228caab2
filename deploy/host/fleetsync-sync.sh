#!/usr/bin/env bash
# fleetsync-sync.sh: brings a host's destination folder to one revision of the codebase, or reports the
# revision it holds. Run by the SSM document deploy/ssm/fleetsync-sync.json on EC2 hosts, and as a child
# process by the local fleet.
#
#   fleetsync-sync.sh --mode sync --source s3://BUCKET/PREFIX|file:///PATH --revision REV --destination /DIR
#                     [--strategy release|inplace] [--excludes 'media/*,var/*'] [--links 'media=/mnt/efs/media']
#                     [--check /PROGRAM] [--keep-releases 5] [--attempt-id ID]
#   fleetsync-sync.sh --mode probe --destination /DIR
#
# Lists are comma-separated; an empty value means none. Without --excludes the default is 'media/*,var/*'.
# stdout is exactly one line, FLEETSYNC-RESULT {json}; progress goes to DIR/.fleetsync/sync.log and stderr.
# Exit codes: 0 synced (or probed), 2 bad arguments, 3 sync failed, 4 check failed (link rolled back),
# 75 busy (another run holds DIR/.fleetsync/lock; retry later). Never 194 or 3010: SSM reads those as reboots.
# Environment: FLEETSYNC_S3_ENDPOINT_URL (optional http(s)://host[:port]) points aws at an S3-compatible store.
# Published revisions: DIR/.fleetsync/manifests/REV.tsv lists a kept release's files; .fleetsync/work, a run's.
set -euo pipefail
# Ranges such as [A-Za-z] must mean ASCII letters only, whatever the host's locale.
export LC_ALL=C
umask 022

# The real stdout carries only the result line; anything else any tool prints goes to stderr.
exec 3>&1 1>&2

readonly EXIT_SYNCED=0 EXIT_BAD_ARGUMENTS=2 EXIT_SYNC_FAILED=3 EXIT_CHECK_FAILED=4 EXIT_BUSY=75

# Validation patterns: the same as state/validate.ts PATTERNS (test/host/document.test.ts proves it).
readonly RE_MODE='^(sync|probe)$'
readonly RE_STRATEGY='^(release|inplace)$'
readonly RE_REVISION='^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'
readonly RE_DESTINATION='^/[A-Za-z0-9._/-]{1,255}$'
readonly RE_EXCLUDE='^[A-Za-z0-9._*?/-]{1,256}$'
readonly RE_LINK_NAME='^[A-Za-z0-9._-]{1,128}(/[A-Za-z0-9._-]{1,128})*$'
readonly RE_CHECK_COMMAND='^/[A-Za-z0-9._/-]{1,255}$'
readonly RE_S3_SOURCE='^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]{0,900})?$'
readonly RE_FILE_SOURCE='^file:///[A-Za-z0-9._/-]{0,1000}$'
readonly RE_KEEP_RELEASES='^[0-9]{1,3}$'
readonly RE_ATTEMPT_ID='^[A-Za-z0-9._-]{1,64}$'
readonly RE_ENDPOINT_URL='^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?$'
readonly MIN_KEEP_RELEASES=1 MAX_KEEP_RELEASES=100
# Folders a sync must never own (the same list as state/validate.ts).
readonly SYSTEM_FOLDERS=(/bin /boot /dev /etc /lib /lib32 /lib64 /proc /root /run /sbin /sys /tmp /usr /var /home
  /mnt /opt /srv /media /var/lib /var/log /usr/local /usr/bin /usr/lib /usr/sbin /var/tmp)
readonly DEFAULT_EXCLUDES='media/*,var/*'
readonly CHECK_TIMEOUT_SECONDS=300
readonly LOG_ROTATE_BYTES=1048576
# SSM keeps only the first 2,500 characters of output: the result line stays well under that.
readonly RESULT_MAX_CHARS=990
readonly MANIFEST_HEADER='{"apiVersion":"fleetsync.dev/v1","kind":"Manifest",'
readonly NO_FILES='holds no files and no manifest.json (an interrupted publish leaves none: publish again)'

MODE='' SOURCE='' REVISION='' DEST='' STRATEGY='release' CHECK='' KEEP='5' ATTEMPT='manual'
EXCLUDES_RAW=$DEFAULT_EXCLUDES LINKS_RAW=''
EXCLUDES=() LINK_NAMES=() LINK_TARGETS=()
ENDPOINT_ARGS=()
# Result fields: only set once validated, so the result line never echoes unchecked input.
R_REVISION='' R_TARGET='' R_STRATEGY='' R_FILES='' R_BYTES='' R_LOG=''
FS_DIR='' LOG='' STAGING='' RESULT_PRINTED=0
MANIFEST='' ROOT='' OBJECTS='' WORK='' EXRE='' R_DL='' DL_ALL=''
START_SECONDS=$SECONDS

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2 2>/dev/null || true
}

# JSON string body: escapes what JSON needs and replaces any other non-printable byte with '?'.
json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//[^ -~]/?}
  printf '%s' "$s"
}

json_field() { # name value: "name":"value" or "name":null when empty
  if [[ -n $2 ]]; then printf '"%s":"%s"' "$1" "$(json_escape "$2")"; else printf '"%s":null' "$1"; fi
}

json_optional() { # name value: ,"name":"value", or nothing when empty
  if [[ -n $2 ]]; then printf ',"%s":"%s"' "$1" "$(json_escape "$2")"; fi
}

# For messages about rejected input: printable, quoted, short.
shown() {
  local s=$1
  ((${#s} <= 80)) || s="${s:0:80}..."
  printf '"%s"' "$(json_escape "$s")"
}

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [$ATTEMPT] $*"
  printf '%s\n' "$line" >&2
  if [[ -n $LOG ]]; then printf '%s\n' "$line" >>"$LOG" || true; fi
}

# Prints the one result line and exits with the given code.
finish() {
  local code=$1 status=$2 error=${3-} head json
  head="{$(json_field revision "$R_REVISION")$(json_optional target "$R_TARGET")$(json_optional strategy "$R_STRATEGY")"
  head+=",\"status\":\"$status\""
  [[ -z $R_FILES ]] || head+=",\"files\":$R_FILES,\"bytes\":$R_BYTES$R_DL"
  head+=",\"seconds\":$((SECONDS - START_SECONDS))$(json_optional attempt "$ATTEMPT")$(json_optional log "$R_LOG")"
  json="$head}"
  if [[ -n $error ]]; then
    json="$head,\"error\":\"$(json_escape "$error")\"}"
    while ((${#json} > RESULT_MAX_CHARS)); do
      error="${error:0:$((${#error} - (${#json} - RESULT_MAX_CHARS) - 3))}..."
      json="$head,\"error\":\"$(json_escape "$error")\"}"
    done
    log "error: $error"
  fi
  RESULT_PRINTED=1
  [[ -z $WORK ]] || remove_tree "$WORK" || true
  printf 'FLEETSYNC-RESULT %s\n' "$json" >&3
  exit "$code"
}

bad_args() {
  printf 'fleetsync-sync: %s\n' "$1" >&2
  usage
  finish "$EXIT_BAD_ARGUMENTS" badArguments "$1"
}

# The revision the host serves now, from <dest>/.fleetsync/REVISION (empty when unknown).
read_current_revision() {
  local file="$DEST/.fleetsync/REVISION" line=''
  R_REVISION=''
  if [[ -f $file && ! -L $file ]]; then
    IFS= read -r line <"$file" || true
    if [[ $line =~ $RE_REVISION ]]; then R_REVISION=$line; fi
  fi
}

remove_tree() { # a folder of ours; never crosses into another file system (an EFS mount, say)
  rm -rf --one-file-system -- "$1"
}

fail() {
  if [[ -n $STAGING && -e $STAGING ]]; then remove_tree "$STAGING" || true; fi
  read_current_revision
  finish "$EXIT_SYNC_FAILED" failed "$1"
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
on_exit() {
  local code=$?
  if ((RESULT_PRINTED == 0)); then
    trap - EXIT
    if [[ -n $STAGING && -e $STAGING ]]; then remove_tree "$STAGING" || true; fi
    if [[ -n $DEST ]]; then read_current_revision; fi
    finish "$EXIT_SYNC_FAILED" failed "unexpected failure (exit code $code); see the log${LOG:+ $LOG}"
  fi
}
trap on_exit EXIT
trap 'fail "interrupted by a signal"' INT TERM HUP

# ---------------------------------------------------------------------------------------------------------
# Arguments: parsed and validated before anything touches the disk.

parse_args() {
  local seen=' ' flag value
  while (($# > 0)); do
    flag=$1
    case $flag in
      --mode | --source | --revision | --destination | --strategy | --excludes | --links | --check | \
        --keep-releases | --attempt-id) ;;
      *) bad_args "unknown argument $(shown "$flag") (flags: --mode --source --revision --destination --strategy --excludes --links --check --keep-releases --attempt-id)" ;;
    esac
    (($# >= 2)) || bad_args "$flag needs a value"
    [[ $seen != *" $flag "* ]] || bad_args "$flag is given twice: give it once"
    seen+="$flag "
    value=$2
    shift 2
    # Newlines, control characters and non-ASCII bytes are never valid: refuse them before any splitting.
    [[ $value != *[^\ -~]* ]] || bad_args "$flag $(shown "$value") holds a newline, control character or non-ASCII byte"
    case $flag in
      --mode) MODE=$value ;;
      --source) SOURCE=$value ;;
      --revision) REVISION=$value ;;
      --destination) DEST=$value ;;
      --strategy) STRATEGY=$value ;;
      --excludes) EXCLUDES_RAW=$value ;;
      --links) LINKS_RAW=$value ;;
      --check) CHECK=$value ;;
      --keep-releases) KEEP=$value ;;
      --attempt-id) ATTEMPT=$value ;;
    esac
  done
}

has_dot_segment() { # a "." or ".." segment (or an empty one, "//")
  [[ "/$1/" == */../* || "/$1/" == */./* || "/$1/" == *//* ]]
}

# Collapses "//" and "/." and trailing slashes, so "/etc/." or "//etc" is seen as /etc.
normalize_path() {
  local p=$1
  while [[ $p == *//* ]]; do p=${p//\/\//\/}; done
  while [[ $p == */./* ]]; do p=${p//\/.\//\/}; done
  p=${p%/.}
  while [[ $p == */ ]]; do p=${p%/}; done
  printf '%s' "${p:-/}"
}

is_system_folder() {
  local p=$1 folder
  [[ $p != / ]] || return 0
  for folder in "${SYSTEM_FOLDERS[@]}"; do [[ $p != "$folder" ]] || return 0; done
  return 1
}

# Validates a folder path (destination or link target); prints the normalized path.
check_folder() {
  local what=$1 value=$2 normalized
  [[ $value =~ $RE_DESTINATION ]] \
    || { printf '%s %s is not valid: use an absolute path of letters, digits and . _ - / (like /var/www/app)' "$what" "$(shown "$value")"; return 1; }
  [[ "/$value/" != */../* ]] || { printf '%s %s must not contain a ".." segment' "$what" "$(shown "$value")"; return 1; }
  normalized=$(normalize_path "$value")
  if is_system_folder "$normalized"; then
    printf '%s %s is a system folder: use a folder of its own (like /var/www/app)' "$what" "$(shown "$value")"
    return 1
  fi
  printf '%s' "$normalized"
}

split_list() { # value -> LIST_ITEMS, refusing empty items
  local rest=$1 item
  LIST_ITEMS=()
  while [[ -n $rest ]]; do
    item=${rest%%,*}
    [[ -n $item ]] || return 1
    LIST_ITEMS+=("$item")
    if [[ $rest == *,* ]]; then
      rest=${rest#*,}
      [[ -n $rest ]] || return 1
    else
      rest=''
    fi
  done
}

validate_args() {
  local out item name target keep_number resolved
  [[ -n $MODE ]] || bad_args "--mode is required: sync or probe"
  [[ $MODE =~ $RE_MODE ]] || bad_args "--mode $(shown "$MODE") is not valid: use sync or probe"
  [[ $ATTEMPT =~ $RE_ATTEMPT_ID ]] || bad_args "--attempt-id $(shown "$ATTEMPT") is not valid: use 1-64 letters, digits and . _ -"
  [[ -n $DEST ]] || bad_args "--destination is required (an absolute folder like /var/www/app)"
  out=$(check_folder "--destination" "$DEST") || bad_args "$out"
  DEST=$out
  # A destination reached through a symlink must not land in a system folder either.
  if [[ -e $DEST ]]; then
    resolved=$(realpath -e -- "$DEST") || bad_args "--destination $DEST cannot be resolved"
    if is_system_folder "$resolved"; then bad_args "--destination $DEST resolves to the system folder $resolved: use a folder of its own"; fi
  fi
  if [[ $MODE == sync ]]; then
    [[ -n $SOURCE ]] || bad_args "--source is required for a sync (s3://bucket/prefix or file:///path)"
    [[ -n $REVISION ]] || bad_args "--revision is required for a sync and must not be empty"
  fi
  if [[ -n $REVISION || $MODE == sync ]]; then
    [[ $REVISION =~ $RE_REVISION ]] \
      || bad_args "--revision $(shown "$REVISION") is not valid: use 1-128 letters, digits, dots, dashes and underscores, starting with a letter or digit (like 3f9c2ab)"
  fi
  if [[ -n $SOURCE ]]; then
    if ! [[ $SOURCE =~ $RE_S3_SOURCE || $SOURCE =~ $RE_FILE_SOURCE ]] || [[ "/$SOURCE/" == */../* ]]; then
      bad_args "--source $(shown "$SOURCE") is not valid: use s3://bucket/prefix or file:///absolute/path (letters, digits, . _ - /)"
    fi
  fi
  [[ $STRATEGY =~ $RE_STRATEGY ]] || bad_args "--strategy $(shown "$STRATEGY") is not valid: use release or inplace"

  split_list "$EXCLUDES_RAW" || bad_args "--excludes $(shown "$EXCLUDES_RAW") has an empty item: separate patterns with single commas"
  for item in "${LIST_ITEMS[@]}"; do
    [[ $item =~ $RE_EXCLUDE && $item != /* ]] \
      || bad_args "exclude $(shown "$item") is not valid: use a relative pattern of letters, digits, . _ - / * ? (like media/*)"
    [[ "/$item/" != */../* ]] || bad_args "exclude $(shown "$item") must not contain a \"..\" segment"
    EXCLUDES+=("$item")
  done

  split_list "$LINKS_RAW" || bad_args "--links $(shown "$LINKS_RAW") has an empty item: separate name=target pairs with single commas"
  for item in "${LIST_ITEMS[@]}"; do
    [[ $item == *=* ]] || bad_args "link $(shown "$item") is not valid: use name=/absolute/folder (like media=/mnt/efs/media)"
    name=${item%%=*}
    target=${item#*=}
    if ! [[ $name =~ $RE_LINK_NAME ]] || has_dot_segment "$name"; then
      bad_args "link name $(shown "$name") is not valid: use a relative name of letters, digits and . _ - / without . or .. segments (like media)"
    fi
    out=$(check_folder "link target of $name" "$target") || bad_args "$out"
    LINK_NAMES+=("$name")
    LINK_TARGETS+=("$out")
  done
  if [[ $STRATEGY == inplace && ${#LINK_NAMES[@]} -gt 0 ]]; then
    bad_args "--links needs --strategy release (inplace syncs straight into the destination)"
  fi

  if [[ -n $CHECK ]]; then
    if ! [[ $CHECK =~ $RE_CHECK_COMMAND ]] || [[ "/$CHECK/" == */../* ]]; then
      bad_args "--check $(shown "$CHECK") is not valid: use the absolute path of a program without arguments (like /usr/local/bin/app-healthcheck)"
    fi
  fi
  [[ $KEEP =~ $RE_KEEP_RELEASES ]] || bad_args "--keep-releases $(shown "$KEEP") is not valid: use a whole number from $MIN_KEEP_RELEASES to $MAX_KEEP_RELEASES"
  keep_number=$((10#$KEEP))
  ((keep_number >= MIN_KEEP_RELEASES && keep_number <= MAX_KEEP_RELEASES)) \
    || bad_args "--keep-releases $KEEP is out of range: use a whole number from $MIN_KEEP_RELEASES to $MAX_KEEP_RELEASES"
  KEEP=$keep_number

  if [[ -n ${FLEETSYNC_S3_ENDPOINT_URL:-} ]]; then
    [[ $FLEETSYNC_S3_ENDPOINT_URL =~ $RE_ENDPOINT_URL ]] \
      || bad_args "FLEETSYNC_S3_ENDPOINT_URL $(shown "$FLEETSYNC_S3_ENDPOINT_URL") is not valid: use http(s)://host[:port]"
    ENDPOINT_ARGS=(--endpoint-url "$FLEETSYNC_S3_ENDPOINT_URL")
  fi

  if [[ $MODE == sync ]]; then R_TARGET=$REVISION; R_STRATEGY=$STRATEGY; fi
}

# ---------------------------------------------------------------------------------------------------------
# Probe: read only, no lock, nothing written.

probe() {
  local link
  read_current_revision
  if [[ -f $DEST/.fleetsync/sync.log ]]; then R_LOG="$DEST/.fleetsync/sync.log"; fi
  if [[ -L $DEST/current ]]; then
    R_STRATEGY=release
    if [[ -z $R_REVISION ]]; then
      link=$(readlink -- "$DEST/current")
      if [[ ${link#releases/} =~ $RE_REVISION ]]; then R_REVISION=${link#releases/}; fi
    fi
  elif [[ -n $R_REVISION ]]; then
    R_STRATEGY=inplace
  fi
  finish "$EXIT_SYNCED" probed
}

# ---------------------------------------------------------------------------------------------------------
# Sync.

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed on this host: install it (apt-get install $tool, or dnf install $tool)"
  done
}

prepare_state_folder() {
  local path
  for path in "$DEST" "$DEST/.fleetsync" "$DEST/releases"; do
    [[ ! -L $path || $path == "$DEST" ]] || fail "$path is a symlink: fleetsync keeps its own folders there; move it away"
  done
  mkdir -p -- "$DEST/.fleetsync" || fail "cannot create $DEST/.fleetsync"
  for path in lock sync.log REVISION manifests work; do
    [[ ! -L $DEST/.fleetsync/$path ]] || fail "$DEST/.fleetsync/$path is a symlink: remove it"
  done
  FS_DIR="$DEST/.fleetsync"
  R_LOG="$FS_DIR/sync.log"
}

take_lock() {
  exec 9>>"$FS_DIR/lock" || fail "cannot open the lock file $FS_DIR/lock"
  if ! flock -n 9; then
    read_current_revision
    finish "$EXIT_BUSY" busy "another fleetsync sync is running on this host (it holds $FS_DIR/lock); retry when it has finished"
  fi
}

open_log() {
  local size
  if [[ -f $FS_DIR/sync.log ]]; then
    size=$(stat -c %s -- "$FS_DIR/sync.log" 2>/dev/null || echo 0)
    if ((size > LOG_ROTATE_BYTES)); then mv -f -- "$FS_DIR/sync.log" "$FS_DIR/sync.log.1" || true; fi
  fi
  LOG="$FS_DIR/sync.log"
  : >>"$LOG" || fail "cannot write the log $LOG"
}

# rsync exclude arguments that mirror aws s3 sync's --exclude: anchored at the root, "*" crossing folders.
# A pattern like media/* also covers the folder media itself, so it is never created, replaced or deleted.
rsync_excludes() {
  local pattern
  RSYNC_EXCLUDES=()
  for pattern in "${EXCLUDES[@]}"; do
    while [[ $pattern == *'**'* ]]; do pattern=${pattern//\*\*/*}; done
    RSYNC_EXCLUDES+=("--exclude=/${pattern//\*/**}")
    if [[ $pattern == */\* && ${pattern%/\*} != *[*?]* ]]; then RSYNC_EXCLUDES+=("--exclude=/${pattern%/\*}"); fi
  done
}

# EXRE: the excludes as a regex; a path is excluded if it or a folder above it matches ^(EXRE)(/|$).
exclude_regex() {
  local p
  EXRE='/'
  for p in "${EXCLUDES[@]}"; do
    if [[ $p == ?*/\* ]]; then p=${p%/\*}; fi
    p=${p//./[.]}
    p=${p//\*/.*}
    EXRE+="|${p//\?/[^/]}"
  done
}

# S3: the revision is mirrored into a cache nothing links to, so aws never writes next to a release's files;
# cached files are checked against the MD5 ETags first: a same-size, same-time file may hold other content.
fetch_s3() {
  local bucket key_prefix rest listing line key etag rel file sum odd=0
  rest=${SOURCE#s3://}
  bucket=${rest%%/*}
  key_prefix=''
  if [[ $rest == */* ]]; then key_prefix=${rest#*/}; fi
  while [[ $key_prefix == */ ]]; do key_prefix=${key_prefix%/}; done
  ROOT="s3://$bucket/${key_prefix:+$key_prefix/}"
  key_prefix="${key_prefix:+$key_prefix/}$REVISION/"
  SRC_DIR="$FS_DIR/s3-cache"
  [[ ! -L $SRC_DIR ]] || fail "$SRC_DIR is a symlink: remove it"
  mkdir -p -- "$SRC_DIR" || fail "cannot create $SRC_DIR"

  log "listing s3://$bucket/$key_prefix"
  listing=$(aws "${ENDPOINT_ARGS[@]}" s3api list-objects-v2 --bucket "$bucket" --prefix "$key_prefix" \
    --query 'Contents[].[Key,ETag]' --output text 2>>"$LOG") \
    || fail "cannot list s3://$bucket/$key_prefix (permissions, region or network?); see $LOG"
  [[ -n $listing && $listing != None ]] || fail "revision $REVISION not found: s3://$bucket/$key_prefix $NO_FILES"
  while IFS= read -r line; do
    key=${line%%$'\t'*}
    etag=${line#*$'\t'}
    etag=${etag//\"/}
    if [[ $line != *$'\t'* || $key != "$key_prefix"* || $etag == *$'\t'* ]]; then odd=1; break; fi
    rel=${key#"$key_prefix"}
    [[ -n $rel && $rel != */ ]] || continue
    if has_dot_segment "$rel"; then continue; fi
    file="$SRC_DIR/$rel"
    [[ -f $file || -L $file ]] || continue
    sum=''
    if [[ $etag =~ ^[0-9a-f]{32}$ && -f $file && ! -L $file ]]; then
      sum=$(md5sum <"$file") || sum=''
      sum=${sum%% *}
    fi
    if [[ $sum != "$etag" ]]; then rm -f -- "$file" || fail "cannot remove the stale cached file $file"; fi
  done <<<"$listing"
  if ((odd)); then
    log "the listing has keys this script cannot check one by one: downloading the whole revision"
    remove_tree "$SRC_DIR" || fail "cannot reset $SRC_DIR"
    mkdir -p -- "$SRC_DIR" || fail "cannot create $SRC_DIR"
  fi

  local args=(s3 sync "s3://$bucket/$key_prefix" "$SRC_DIR/" --delete --exact-timestamps --no-follow-symlinks
    --only-show-errors --no-progress)
  for rel in "${EXCLUDES[@]}"; do args+=(--exclude "$rel"); done
  args+=(--include manifest.json) # a published revision's, whatever the excludes
  log "downloading s3://$bucket/$key_prefix"
  aws "${ENDPOINT_ARGS[@]}" "${args[@]}" >>"$LOG" 2>&1 \
    || fail "aws s3 sync from s3://$bucket/$key_prefix failed; see $LOG"
}

# Sets SRC_DIR to a local folder holding the revision.
fetch_revision() {
  local path
  # <source>/objects/ is the content of published revisions, never a revision of its own
  [[ $REVISION != objects ]] || fail "revision objects is reserved: <source>/objects/ holds the content of published revisions; use another name"
  if [[ $SOURCE == s3://* ]]; then
    require_tools aws
    fetch_s3
  else
    path=${SOURCE#file://}
    while [[ $path == */ ]]; do path=${path%/}; done
    ROOT="$path/"
    SRC_DIR="$path/$REVISION"
    [[ -d $SRC_DIR ]] || fail "revision $REVISION not found: $SRC_DIR/ $NO_FILES"
  fi
  MANIFEST="$SRC_DIR/manifest.json"
  if [[ $(head -c ${#MANIFEST_HEADER} -- "$MANIFEST" 2>/dev/null) == "$MANIFEST_HEADER" ]]; then OBJECTS="${ROOT}objects/"
  else # an app's own manifest.json, if any, is a plain file
    [[ ! -f $MANIFEST ]] || log "$ROOT$REVISION/manifest.json is not a fleetsync manifest: syncing plain files"
    MANIFEST=''
  fi
  [[ -n $MANIFEST || -n $(find "$SRC_DIR/" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null) ]] \
    || fail "revision $REVISION is empty: $SOURCE/$REVISION/ $NO_FILES; refusing to sync an empty codebase"
}

# rsync writes each changed file aside and renames it (no --inplace): a file hard-linked with the live release
# is replaced, never written through. Without -t -p it leaves unchanged files' times and modes; --checksum
# compares contents, not sizes and times.
run_rsync() { # target folder, extra args...
  local target=$1 out line files=0 bytes=0
  shift
  rsync_excludes
  out="$FS_DIR/rsync.out"
  log "rsync $SRC_DIR/ -> $target/"
  if ! rsync -rl --checksum --delete --out-format='%i %l' "${RSYNC_EXCLUDES[@]}" "$@" -- "$SRC_DIR/" "$target/" \
    >"$out" 2>>"$LOG"; then
    fail "rsync from $SRC_DIR/ to $target/ failed; see $LOG"
  fi
  while IFS= read -r line; do
    if [[ $line == '>f'* ]]; then
      files=$((files + 1))
      bytes=$((bytes + ${line##* }))
    fi
  done <"$out"
  log "$files files changed ($bytes bytes); deleted: $(grep -c '^\*deleting' "$out" || true)"
  rm -f -- "$out"
  R_FILES=$files
  R_BYTES=$bytes
}

# Published revisions: content the host has is checked and hard-linked, never written through.

tsv() { awk -F'\t' -v OFS='\t' "$@"; }

# WORK/k: kept releases' files, WORK/m: the manifest's not excluded (sha256 size mode path).
free_bytes() { df -PB1 -- "$FS_DIR" | awk 'NR == 2 { print $4 }'; }

# shellcheck disable=SC2016
read_manifest() {
  local f r out free
  cat -- "$FS_DIR"/manifests/*.tsv >"$WORK/k" 2>/dev/null || true
  out=$(awk -v h="$MANIFEST_HEADER\"revision\":\"$REVISION\"," -v x="^($EXRE)(/|\$)" -v o="$WORK/m" '
    function bad(s) { print "line " FNR ": " s; e = 1; exit 1 }
    FILENAME != ARGV[2] { K[substr($0, 1, 64)]; next }
    FNR == 1 { if (index($0, h) != 1 || !match($0, /"totals":[{]"files":[0-9]+,"bytes":[0-9]+[}],"files":[[]$/)) bad("bad first line")
      split(substr($0, RSTART + 18), t, /[^0-9]+/); next }
    z || ($0 == "]}" ? c : n && !c) { bad("misplaced , or ]}") }
    $0 == "]}" { z = 1; next }
    { if ($0 !~ /^[{]"path":"[^"\\\001-\037\177]+","sha256":"[0-9a-f]+","size":(0|[1-9][0-9]*),"mode":"[0-7][0-7][0-7]"[}],?$/) bad("not a file entry")
      c = sub(/,$/, ""); split($0, f, "\""); p = f[4]; s = substr(f[11], 2, length(f[11]) - 2)
      if (length(f[8]) != 64 || length(s) > 16) bad("not a file entry")
      if (p in F || ("/" p "/") ~ /\/(\.\.?)?\// || p ~ /^\.fleetsync(\/|$)/) bad("path " p " is repeated or not a safe relative path")
      F[p]; n++; b += s
      if (p ~ x) { ex++; next }
      print f[8] "\t" s "\t" f[14] "\t" p >o
      if (!(f[8] in K)) { K[f[8]]; d += s } }
    END { if (e) exit 1; if (!z) bad("no ]}"); if (t[1] != n || t[2] != b) bad("totals do not add up"); if (!n) bad("no files")
      printf "%d %d %.0f", n - ex, ex, d }' "$WORK/k" "$MANIFEST") || fail "$ROOT$REVISION/manifest.json is not a valid fleetsync manifest: ${out:-unreadable}; publish $REVISION again"
  read -r f r out <<<"$out"
  log "manifest: $f files ($r more excluded), $out bytes to download"
  free=$(free_bytes)
  { [[ $free =~ ^[0-9]+$ ]] && ((out + (64 << 20) <= free)); } \
    || fail "not enough disk space in $DEST: $REVISION needs $out bytes (+64 MiB spare), ${free:-?} are free; free space or lower keepReleases"
}

# Lines of $1 whose file has that SHA-256 and mode ("-": any) -> $1.ok, with its mode; the rest -> $1.bad.
# shellcheck disable=SC2016
verified() {
  : >"$1.ok"
  : >"$1.bad"
  cut -f4 -- "$1" | xargs -d '\n' -r stat -c '%f %a %n' -- >"$1.st" 2>/dev/null || true
  sed -n 's/^8[^ ]* [^ ]* //p' "$1.st" | xargs -d '\n' -r sha256sum -- >"$1.sum" 2>/dev/null || true
  tsv 'FILENAME == ARGV[1] { split($0, a, " "); sub(/^[^ ]* [^ ]* /, ""); m[$0] = a[2]; next }
    FILENAME == ARGV[2] { h[substr($0, 67)] = substr($0, 1, 64); next }
    { g = h[$4] == $1 && ($3 == "-" || $3 == m[$4]); if (g) $3 = m[$4]; print >(FILENAME (g ? ".ok" : ".bad")) }' "$1.st" "$1.sum" "$1"
}

# The aws CLI checks every listed key against every --include (about 24 us each): fine for a few objects, hours
# for a first sync of a large codebase. So: a few objects, or few keys, go by includes; when most of the store is
# wanted it is synced whole (at most 4x the objects, if the disk has room); a handful from a large store go one
# process each, 8 at a time; only what is left pays for the includes.
fetch_objects() { # WORK folder: downloads the objects listed in $1/d into $1/o
  local w=$1 m n=0 total=0 free
  m=$(wc -l <"$w/d")
  if ((m > 8)); then
    aws "${ENDPOINT_ARGS[@]}" s3 ls "$OBJECTS" >"$w/ls" 2>>"$LOG" || fail "cannot list $OBJECTS; see $LOG"
    read -r n total < <(awk '$4 ~ /^[0-9a-f]+$/ && length($4) == 64 { n++; t += $3 } END { printf "%d %.0f\n", n, t }' "$w/ls")
  fi
  free=$(free_bytes)
  log "$m objects needed; the store holds $n ($total bytes); $free bytes free"
  if ((m * n > 200000 && n <= 4 * m && total + (64 << 20) <= ${free:-0})); then
    log "downloading all $n objects of $OBJECTS ($total bytes): $m of them are needed"
    DL_ALL="$n $total"
    aws "${ENDPOINT_ARGS[@]}" s3 sync "$OBJECTS" "$w/o/" --only-show-errors --no-progress >>"$LOG" 2>&1
  elif ((m * n > 200000 && m <= 64)); then
    log "downloading $m objects of $n, one process each"
    cut -f1 "$w/d" | xargs -d '\n' -P 8 -I{} aws "${ENDPOINT_ARGS[@]}" s3 cp --only-show-errors "$OBJECTS{}" "$w/o/{}" >>"$LOG" 2>&1
  else
    log "downloading $m objects by name"
    awk '{ print "--include"; print $1 }' "$w/d" | xargs -d '\n' -n 1000 aws "${ENDPOINT_ARGS[@]}" s3 cp "$OBJECTS" "$w/o/" \
      --recursive --only-show-errors --exclude '*' >>"$LOG" 2>&1
  fi || fail "cannot download objects from $OBJECTS; see $LOG"
}

# shellcheck disable=SC2016
build() { # brings folder $1 to WORK/m; $2 is 1 for the live release (files replaced by rename)
  local dir=$1 live=$2 w=$WORK how mode src path
  (cd -- "$dir" && find . -regextype posix-extended -regex "\./($EXRE)" -prune -o ! -type d -printf '%P\0' \
    | tr '\n\0' '\1\n' | tsv 'FILENAME == ARGV[1] { m[$4]; next } !($0 in m)' "$w/m" - \
    | tr '\n\1' '\0\n' | xargs -0r rm -f -- \
    && find . -regextype posix-extended -mindepth 1 -type d -empty ! -regex "\./($EXRE)(/.*)?" -delete) >>"$LOG" 2>&1 \
    || fail "cannot delete what $REVISION does not list from $dir; see $LOG"
  tsv -v d="$dir/" '{ $4 = d $4; print }' "$w/m" >"$w/t"
  verified "$w/t"
  tsv 'FILENAME == ARGV[1] { h[$1]; next } FILENAME == ARGV[2] { if (!($1 in h)) q[$1]; next }
    $1 in q { delete q[$1]; print }' "$w/t.ok" "$w/t.bad" "$w/k" >"$w/c"
  verified "$w/c"
  cat -- "$w/c.ok" >>"$w/t.ok"
  tsv -v d="$w/o/" 'FILENAME == ARGV[1] { h[$1]; next } !($1 in h) { h[$1]; $3 = "-"; $4 = d $1; print }' "$w/t.ok" "$w/t.bad" >"$w/d"
  if [[ -s $w/d ]]; then
    if [[ $OBJECTS == s3://* ]]; then fetch_objects "$w"
    else
      awk -v d="$OBJECTS" '{ print d $1 }' "$w/d" | xargs -d '\n' cp -t "$w/o" -- 2>>"$LOG" || true
    fi
    verified "$w/d"
    [[ ! -s $w/d.bad ]] || fail "object $(head -c 64 "$w/d.bad") is missing from $OBJECTS or does not match its SHA-256: delete it and publish $REVISION again"
    cat -- "$w/d.ok" >>"$w/t.ok"
  fi
  # content wanted with another mode is copied
  : >"$w/plan"
  R_DL=$(tsv -v o="$w/o/" -v P="$w/plan" 'FILENAME == ARGV[1] { x[$1 SUBSEP $3] = $4; y[$1] = $4; if (index($4, o) == 1) { f++; s += $2 }; next }
    FILENAME == ARGV[3] { t++; u += $2; next }
    { k = $1 SUBSEP $3; h = (k in x); print h ? "l" : "c", $3, h ? x[k] : y[$1], $4 >P; n++; b += $2; if (index(y[$1], o) == 1) { g++; c += $2 } }
    END { printf "%d %.0f ,\"downloadedFiles\":%d,\"downloadedBytes\":%.0f,\"reusedFiles\":%d,\"reusedBytes\":%.0f", n, b, f, s, t - g, u - c }' \
    "$w/t.ok" "$w/t.bad" "$w/m")
  read -r R_FILES R_BYTES R_DL <<<"$R_DL"
  # a whole-store download moved more than the objects used: report what moved
  [[ -z $DL_ALL ]] || R_DL=$(sed -E "s/(\"downloadedFiles\":)[0-9]+(,\"downloadedBytes\":)[0-9]+/\1${DL_ALL% *}\2${DL_ALL#* }/" <<<"$R_DL")
  while IFS=$'\t' read -r how mode src path; do
    [[ -d ${path%/*} ]] || mkdir -p -- "${path%/*}" || fail "cannot create ${path%/*}"
    if [[ $how == c ]]; then cp --remove-destination -- "$src" "$w/new" && chmod -- "$mode" "$w/new" && mv -T -- "$w/new" "$path"
    elif ((live)); then ln -fT -- "$src" "$w/new" && mv -T -- "$w/new" "$path"
    else ln -fT -- "$src" "$path"; fi 2>>"$LOG" || fail "cannot place $path; see $LOG"
  done <"$w/plan"
  verified "$w/t.bad"
  [[ ! -s $w/t.bad.bad ]] || fail "the files placed in $dir do not match the manifest of $REVISION"
  log "placed $R_FILES files$R_DL"
}

# shellcheck disable=SC2016
save_manifest() { # the release's files, for later syncs to reuse
  rm -f -- "$FS_DIR/manifests/$REVISION.tsv"
  [[ -z $MANIFEST ]] || { mkdir -p -- "$FS_DIR/manifests" \
    && tsv -v d="$DEST/releases/$REVISION/" '{ $4 = d $4; print }' "$WORK/m" >"$FS_DIR/manifests/$REVISION.tsv"; } || true
}

write_revision() { # revision, or empty to remove the file
  if [[ -z $1 ]]; then rm -f -- "$FS_DIR/REVISION"; return; fi
  printf '%s\n' "$1" >"$FS_DIR/REVISION.tmp" && mv -f -- "$FS_DIR/REVISION.tmp" "$FS_DIR/REVISION"
}

run_check() { # folder to run in -> 0 when the check passes
  if [[ -z $CHECK ]]; then return 0; fi
  if [[ ! -f $CHECK || ! -x $CHECK ]]; then
    CHECK_ERROR="check command $CHECK is not an executable file on this host"
    return 1
  fi
  log "running the check $CHECK"
  # Without fd 9 (the lock) and fd 3 (the result line): a daemon the check starts must hold neither open.
  if (cd -- "$1" && FLEETSYNC_REVISION=$REVISION FLEETSYNC_DESTINATION=$DEST FLEETSYNC_RELEASE_DIR=$(pwd -P) \
    timeout --kill-after=10 "$CHECK_TIMEOUT_SECONDS" "$CHECK") </dev/null >>"$LOG" 2>&1 9>&- 3>&-; then
    return 0
  else
    local code=$?
    CHECK_ERROR="check $CHECK failed with exit code $code; see $LOG"
    return 1
  fi
}

# Points <dest>/current at a target atomically: a new link beside it, renamed over it.
switch_current() { # link target (relative to <dest>)
  local tmp="$DEST/.current.next.$$"
  rm -f -- "$tmp"
  ln -s -- "$1" "$tmp" || return 1
  mv -T -- "$tmp" "$DEST/current" || { rm -f -- "$tmp"; return 1; }
}

create_links() { # release folder
  local release=$1 i name target parent segment path tmp parts
  for i in "${!LINK_NAMES[@]}"; do
    name=${LINK_NAMES[$i]}
    target=${LINK_TARGETS[$i]}
    parent=$release
    # Parents must be real folders of the release, never symlinks leading elsewhere.
    if [[ $name == */* ]]; then
      IFS=/ read -r -a parts <<<"${name%/*}"
      for segment in "${parts[@]}"; do
        parent="$parent/$segment"
        [[ ! -L $parent ]] || fail "cannot create link $name: $parent is a symlink in the revision"
        if [[ ! -e $parent ]]; then mkdir -- "$parent" || fail "cannot create $parent"; fi
        [[ -d $parent ]] || fail "cannot create link $name: $parent is not a folder"
      done
    fi
    path="$release/$name"
    if [[ -L $path && $(readlink -- "$path") == "$target" ]]; then continue; fi
    if [[ -d $path && ! -L $path ]]; then
      log "replacing the folder $name of the release with a link to $target"
      remove_tree "$path" || fail "cannot replace $path with a link"
    fi
    [[ -e $target ]] || log "warning: link target $target does not exist (yet)"
    # Beside it, then renamed over it: a link in a live release never goes missing.
    tmp="$parent/.fleetsync-link.$$"
    rm -f -- "$tmp"
    ln -s -- "$target" "$tmp" || fail "cannot create the link $path -> $target"
    mv -T -- "$tmp" "$path" || { rm -f -- "$tmp"; fail "cannot create the link $path -> $target"; }
  done
}

prune_releases() {
  local live=$1 entry name kept=0 entries=()
  mapfile -d '' entries < <(find "$DEST/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\0' | sort -z -rn)
  for entry in "${entries[@]}"; do
    name=${entry#* }
    [[ $name =~ $RE_REVISION ]] || continue
    if [[ $name == "$live" ]] || ((kept < KEEP)); then
      kept=$((kept + 1))
      continue
    fi
    log "pruning release $name (keeping $KEEP)"
    remove_tree "$DEST/releases/$name" || log "warning: could not remove every file of $DEST/releases/$name"
    rm -f -- "$FS_DIR/manifests/$name.tsv"
  done
}

sync_release() {
  local releases="$DEST/releases" final previous_link='' previous_revision trash='' leftover
  final="$releases/$REVISION"
  [[ ! -e $DEST/current || -L $DEST/current ]] \
    || fail "$DEST/current is a real folder, not a link: move it away (it looks like an inplace layout)"
  mkdir -p -- "$releases" || fail "cannot create $releases"
  # Leftovers of a run that died: we hold the lock, so nobody else owns them.
  for leftover in "$releases"/.staging-* "$releases"/.trash-* "$DEST"/.current.next.*; do
    [[ -e $leftover || -L $leftover ]] || continue
    if [[ -d $leftover && ! -L $leftover ]]; then remove_tree "$leftover" || true; else rm -f -- "$leftover"; fi
  done

  previous_revision=$R_REVISION
  if [[ -L $DEST/current ]]; then previous_link=$(readlink -- "$DEST/current"); fi

  if [[ -n $previous_link && -d $final && $(realpath -e -- "$DEST/current" 2>/dev/null) == "$(realpath -e -- "$final")" ]]; then
    # Already live (revisions are immutable): repair drifted files in place, each by a rename; excludes stay.
    log "$REVISION is already live: repairing releases/$REVISION in place"
    if [[ -n $MANIFEST ]]; then build "$final" 1; else run_rsync "$final" --delay-updates --delete-delay; fi
    create_links "$final"
    write_revision "$REVISION" || fail "cannot write $FS_DIR/REVISION"
    save_manifest
    R_REVISION=$REVISION
    CHECK_ERROR=''
    if ! run_check "$DEST/current"; then
      finish "$EXIT_CHECK_FAILED" checkFailed "$CHECK_ERROR; $REVISION was already live, so there is nothing to roll back to"
    fi
    prune_releases "$REVISION"
    finish "$EXIT_SYNCED" synced
  fi

  STAGING="$releases/.staging-$REVISION-$ATTEMPT"
  mkdir -- "$STAGING" || fail "cannot create $STAGING"
  if [[ -n $previous_link && -d $DEST/current ]]; then
    log "seeding $STAGING from the live release by hard links"
    cp -al -- "$DEST/current/." "$STAGING/" >>"$LOG" 2>&1 || fail "cannot hard-link the live release into $STAGING; see $LOG"
  fi
  if [[ -n $MANIFEST ]]; then build "$STAGING" 0; else run_rsync "$STAGING"; fi
  create_links "$STAGING"

  if [[ -e $final || -L $final ]]; then
    trash="$releases/.trash-$REVISION-$ATTEMPT"
    mv -T -- "$final" "$trash" || fail "cannot move the old $final aside"
  fi
  mv -T -- "$STAGING" "$final" || fail "cannot move $STAGING to $final"
  STAGING=''
  touch -- "$final"
  switch_current "releases/$REVISION" || fail "cannot switch $DEST/current to releases/$REVISION"
  log "switched $DEST/current to releases/$REVISION"
  write_revision "$REVISION" || fail "cannot write $FS_DIR/REVISION"
  R_REVISION=$REVISION
  save_manifest
  if [[ -n $trash ]]; then remove_tree "$trash" || log "warning: could not remove $trash"; fi

  CHECK_ERROR=''
  if ! run_check "$DEST/current"; then
    if [[ -n $previous_link ]]; then
      switch_current "$previous_link" || fail "$CHECK_ERROR, and rolling $DEST/current back to $previous_link failed"
      log "rolled $DEST/current back to $previous_link"
    else
      rm -f -- "$DEST/current"
      log "removed $DEST/current: there was no release before this one"
    fi
    write_revision "$previous_revision" || true
    R_REVISION=$previous_revision
    finish "$EXIT_CHECK_FAILED" checkFailed "$CHECK_ERROR; rolled back to ${previous_revision:-no release}"
  fi
  prune_releases "$REVISION"
  finish "$EXIT_SYNCED" synced
}

# inplace refuses a mount point below the destination that no exclude covers: an empty exclude list must
# never wipe a shared EFS folder.
check_mount_points() {
  local real line mount_point rel
  real=$(realpath -e -- "$DEST") || fail "cannot resolve $DEST"
  while IFS= read -r line; do
    read -r _ _ _ _ mount_point _ <<<"$line"
    mount_point=$(printf '%b' "$mount_point")
    [[ $mount_point == "$real"/* ]] || continue
    rel=${mount_point#"$real"/}
    if ! [[ $rel =~ ^($EXRE)(/|$) ]]; then
      fail "inplace would sync across the mount point $mount_point, which no exclude covers: add an exclude such as '$rel/*' (or use strategy release with a link)"
    fi
  done </proc/self/mountinfo
}

sync_inplace() {
  [[ ! -L $DEST/current ]] || log "note: $DEST/current is a link left by the release strategy; inplace does not use it"
  check_mount_points
  EXCLUDES+=(.fleetsync)
  [[ -z $MANIFEST ]] || fail "strategy inplace cannot sync a published revision yet: use strategy release"
  run_rsync "$DEST" --delay-updates --delete-delay
  write_revision "$REVISION" || fail "cannot write $FS_DIR/REVISION"
  R_REVISION=$REVISION
  CHECK_ERROR=''
  if ! run_check "$DEST"; then
    finish "$EXIT_CHECK_FAILED" checkFailed "$CHECK_ERROR (inplace has no link to roll back)"
  fi
  finish "$EXIT_SYNCED" synced
}

main() {
  parse_args "$@"
  validate_args
  if [[ $MODE == probe ]]; then probe; fi
  require_tools rsync flock
  prepare_state_folder
  take_lock
  open_log
  read_current_revision
  log "sync $REVISION from $SOURCE into $DEST (strategy $STRATEGY, excludes: ${EXCLUDES[*]:-none}, current: ${R_REVISION:-none})"
  WORK="$FS_DIR/work"
  { remove_tree "$WORK" && mkdir -- "$WORK" "$WORK/o"; } || fail "cannot create $WORK"
  # Links belong to fleetsync, not to the revision: syncs neither copy over nor delete them.
  EXCLUDES+=("${LINK_NAMES[@]}")
  exclude_regex
  fetch_revision
  if [[ -n $MANIFEST ]]; then read_manifest; fi
  if [[ $STRATEGY == release ]]; then sync_release; else sync_inplace; fi
}

main "$@"
