/**
 * Exclude patterns with the meaning the host script gives them (aws s3 sync's --exclude): matched against the
 * whole path relative to the revision's root; `*` matches any characters, `/` included; `?` matches one
 * character other than `/`.
 */

function patternRegex(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '[^/]';
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

export interface ExcludeMatcher {
  /** a file at this relative path is excluded */
  file(path: string): boolean;
  /** every path below this folder is excluded, so a walk need not enter it */
  folder(path: string): boolean;
}

export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher {
  const regexes = patterns.map((p) => ({ regex: patternRegex(p), trailingStar: p.endsWith('*') }));
  return {
    file: (path) => regexes.some(({ regex }) => regex.test(path)),
    // "D/" matched by a pattern ending in "*": that "*" also matches whatever follows "D/".
    folder: (path) => regexes.some(({ regex, trailingStar }) => trailingStar && regex.test(`${path}/`)),
  };
}
