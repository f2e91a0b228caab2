/** Validation of everything user-supplied, against the patterns of the design's Contract. */
import {
  API_VERSION, DEFAULT_EXCLUDES, DEFAULT_KEEP_RELEASES, DEFAULT_LIFECYCLE_HOOK, DEFAULT_ROLLOUT,
  type FleetSpec, type RolloutSpec,
} from './spec.ts';
import { checkPromotion, checkSteps } from './steps.ts';

export const PATTERNS = {
  fleetName: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
  revision: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  instanceId: /^i-[0-9a-f]{8,17}$/,
  destination: /^\/[A-Za-z0-9._/-]{1,255}$/,
  exclude: /^[A-Za-z0-9._*?/-]{1,256}$/,
  linkName: /^[A-Za-z0-9._-]{1,128}(\/[A-Za-z0-9._-]{1,128})*$/,
  checkCommand: /^\/[A-Za-z0-9._/-]{1,255}$/,
  /** a Linux user name as useradd takes it by default (NAME_REGEX) */
  checkUser: /^[a-z_][a-z0-9_-]{0,31}$/,
  s3Source: /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._/-]{0,900})?$/,
  fileSource: /^file:\/\/\/[A-Za-z0-9._/-]{0,1000}$/,
  asgName: /^[\x21-\x7e]{1,255}$/,
  hookName: /^[A-Za-z0-9._/-]{1,255}$/,
  targetGroupArn: /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
} as const;

/**
 * System trees: a destination (or link target) is refused when it is one of these folders or anywhere below
 * one (/etc/cron.d, /usr/local/bin, /root/.ssh, /var/lib/mysql): a sync runs as root and may delete there.
 * An entry ending in "*" stands for every top-level folder whose name starts with it (/lib, /lib64, /libx32).
 * deploy/host mirrors this list; keep the two the same.
 */
export const SYSTEM_TREES = [
  '/bin', '/boot', '/dev', '/etc', '/lib*', '/proc', '/root', '/run', '/sbin', '/sys', '/usr',
  '/var/cache', '/var/lib', '/var/log', '/var/spool',
] as const;

/**
 * Shared roots: refused as exact paths only. Each holds other things (so syncing into it would wreck them),
 * but a folder of its own below it is the usual home of an app (/var/www/app, /srv/app, /home/app/www).
 * deploy/host mirrors this list; keep the two the same.
 */
export const SHARED_ROOTS = ['/', '/home', '/media', '/mnt', '/opt', '/srv', '/tmp', '/var', '/var/tmp'] as const;

/** "/" followed by the non-empty, non-"." segments: "//etc/./cron.d/" is /etc/cron.d on the host. */
export function normalFolder(path: string): string {
  return `/${path.split('/').filter((seg) => seg !== '' && seg !== '.').join('/')}`;
}

/** The system folder (a SYSTEM_TREES entry, "*" resolved) this normal-form path is or is inside, if any. */
export function systemTreeOf(normal: string): string | undefined {
  const segments = normal.split('/').filter((seg) => seg !== '');
  for (const tree of SYSTEM_TREES) {
    const treeSegments = tree.split('/').filter((seg) => seg !== '');
    const inside = segments.length >= treeSegments.length && treeSegments.every((seg, i) => (seg.endsWith('*')
      ? (segments[i] as string).startsWith(seg.slice(0, -1))
      : segments[i] === seg));
    if (inside) return `/${segments.slice(0, treeSegments.length).join('/')}`;
  }
  return undefined;
}

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

type Check = (value: unknown, what: string) => string | undefined;

function patternCheck(pattern: RegExp, allowed: string): Check {
  return (value, what) => {
    if (typeof value !== 'string') return `${what} must be a string (${allowed})`;
    if (!pattern.test(value)) return `${what} ${JSON.stringify(value)} is not valid: ${allowed}`;
    return undefined;
  };
}

function noDotDot(value: string): boolean {
  return !value.split('/').includes('..');
}

export const checkFleetName = patternCheck(PATTERNS.fleetName,
  'use 1-63 lowercase letters, digits and dashes, starting and ending with a letter or digit (like web-prod)');
export const checkRevision = patternCheck(PATTERNS.revision,
  'use 1-128 letters, digits, dots, dashes and underscores, starting with a letter or digit (like a git sha 3f9c2ab)');
export const checkCheckUser = patternCheck(PATTERNS.checkUser,
  'use a Linux user name: a lowercase letter or _, then up to 31 lowercase letters, digits, _ and - (like www-data)');
export const checkInstanceId = patternCheck(PATTERNS.instanceId, 'an instance id looks like i-0123456789abcdef0');

export const checkDestination: Check = (value, what) => {
  const base = patternCheck(PATTERNS.destination,
    'use an absolute path of letters, digits and . _ - / (like /var/www/app)')(value, what);
  if (base) return base;
  if (!noDotDot(value as string)) return `${what} ${JSON.stringify(value)} must not contain a ".." segment`;
  // Empty and "." segments name the same folder on the host ("//etc/." is /etc): compare the normal form.
  const path = normalFolder(value as string);
  const shown = path === value ? JSON.stringify(value) : `${JSON.stringify(value)} (that is ${path})`;
  const tree = systemTreeOf(path);
  if (tree !== undefined) {
    const where = path === tree ? 'is the system folder' : 'is inside the system folder';
    return `${what} ${shown} ${where} ${tree}, where a sync could wreck the host: use a folder of its own outside the system folders (like /var/www/app or /srv/app)`;
  }
  if ((SHARED_ROOTS as readonly string[]).includes(path)) {
    return `${what} ${shown} is a shared system folder: use a folder of its own below it (like /var/www/app or /srv/app)`;
  }
  return undefined;
};

export const checkExclude: Check = (value, what) => {
  const base = patternCheck(PATTERNS.exclude,
    'use a relative pattern of letters, digits, . _ - / * ? (like media/*)')(value, what);
  if (base) return base;
  const pattern = value as string;
  if (pattern.startsWith('/')) return `${what} ${JSON.stringify(value)} must be relative (like media/*)`;
  if (!noDotDot(pattern)) return `${what} ${JSON.stringify(value)} must not contain a ".." segment`;
  return undefined;
};

/**
 * The release strategy keeps each excluded folder outside the releases, in <destination>/shared/FOLDER, linked
 * into every release, so uploads survive a new release and the pruning of old ones. Only a whole folder can
 * live there: an exclude must read FOLDER/*, FOLDER being plain segments (no wildcard, no "." or ".."). This
 * returns FOLDER, or undefined when the exclude has another form. deploy/host mirrors it.
 */
export function sharedFolderOf(exclude: string): string | undefined {
  if (!exclude.endsWith('/*')) return undefined;
  const folder = exclude.slice(0, -2);
  const plain = folder.split('/').every((seg) => /^[A-Za-z0-9._-]+$/.test(seg) && seg !== '.' && seg !== '..');
  return plain ? folder : undefined;
}

const inside = (path: string, folder: string): boolean => path.startsWith(`${folder}/`);

/**
 * The release strategy's rule for excludes and links together (`prefix` is "spec." for a Fleet file, "" for
 * host parameters). A link named like an excluded folder is fine: the link wins, the release's folder is the
 * link and no shared folder is made for it. A folder inside another excluded folder or inside a link, or a
 * link inside an excluded folder, would put a link into a folder every release shares: refused.
 */
export function releaseExcludeProblems(args: {
  excludes: readonly string[]; links: Readonly<Record<string, string>>; prefix: string;
}): string[] {
  const { excludes, links, prefix } = args;
  const problems: string[] = [];
  const folders: Array<{ i: number; folder: string }> = [];
  excludes.forEach((pattern, i) => {
    if (checkExclude(pattern, '') !== undefined) return; // reported on its own
    const folder = sharedFolderOf(pattern);
    if (folder === undefined) {
      problems.push(`${prefix}excludes[${i}] ${JSON.stringify(pattern)} is not a whole folder: with strategy release each`
        + ' exclude must read FOLDER/* (like media/*), a folder kept in <destination>/shared/FOLDER and linked into every'
        + ' release; exclude the folder that holds these files (like logs/*), or use strategy inplace');
    } else {
      folders.push({ i, folder });
    }
  });
  for (const { i, folder } of folders) {
    const outer = folders.find((o) => o.i !== i && (inside(folder, o.folder) || (o.folder === folder && o.i < i)));
    if (outer !== undefined) {
      problems.push(outer.folder === folder
        ? `${prefix}excludes[${i}] ${JSON.stringify(excludes[i])} is listed twice (also excludes[${outer.i}]): drop one`
        : `${prefix}excludes[${i}] ${JSON.stringify(excludes[i])} is inside the excluded folder ${outer.folder}`
          + ` (excludes[${outer.i}]), which is kept whole: drop it`);
    }
    const link = Object.keys(links).find((name) => inside(folder, name));
    if (link !== undefined) {
      problems.push(`${prefix}excludes[${i}] ${JSON.stringify(excludes[i])} is inside the link ${link} (to ${links[link]}):`
        + ` the release's ${link} is that link, so nothing of the release is kept there; drop the exclude`);
    }
  }
  for (const name of Object.keys(links)) {
    const holder = folders.find((f) => inside(name, f.folder));
    if (holder !== undefined) {
      problems.push(`${prefix}links key ${JSON.stringify(name)} is inside the excluded folder ${holder.folder}`
        + ` (excludes[${holder.i}]), which every release shares from <destination>/shared/${holder.folder}: link`
        + ` ${holder.folder} itself, or exclude only the folders next to ${name}`);
    }
  }
  return problems;
}

export const checkSource: Check = (value, what) => {
  if (typeof value !== 'string') return `${what} must be a string (s3://bucket/prefix or file:///path)`;
  const ok = (PATTERNS.s3Source.test(value) || PATTERNS.fileSource.test(value)) && noDotDot(value);
  return ok ? undefined
    : `${what} ${JSON.stringify(value)} is not valid: use s3://bucket/prefix or file:///absolute/path (letters, digits, . _ - /)`;
};

function checkCount(value: unknown, what: string, min: number, max: number): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return `${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`;
  }
  return undefined;
}

export function checkMaxUnavailable(value: unknown, what = 'maxUnavailable'): string | undefined {
  if (typeof value === 'number') return checkCount(value, what, 1, 100_000);
  if (typeof value === 'string') {
    if (/^\d{1,6}$/.test(value)) return checkCount(Number(value), what, 1, 100_000);
    const m = /^(\d{1,3})%$/.exec(value);
    if (m && Number(m[1]) >= 1 && Number(m[1]) <= 100) return undefined;
  }
  return `${what} must be a count (like 3) or a percent from 1% to 100% (like 25%), got ${JSON.stringify(value)}`;
}

/** Throws ValidationError listing every problem found, else returns nothing. */
export function assertValid(checks: Array<string | undefined>): void {
  const problems = checks.filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new ValidationError(problems);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): string[] {
  return Object.keys(obj).filter((k) => !allowed.includes(k))
    .map((k) => `${where}.${k} is not a known field (known: ${allowed.join(', ')})`);
}

const ROLLOUT_KEYS = [...Object.keys(DEFAULT_ROLLOUT), 'steps', 'promote'];
const SPEC_KEYS = ['autoScalingGroupName', 'lifecycleHookName', 'targetGroupArns', 'source', 'destination',
  'revision', 'strategy', 'excludes', 'links', 'rollout', 'check', 'checkUser', 'keepReleases', 'retries'] as const;

/** Validates a spec as written by an operator (defaults filled in) and returns the complete spec. */
export function parseFleetSpec(input: unknown, where = 'spec'): FleetSpec {
  if (!isRecord(input)) throw new ValidationError([`${where} must be an object`]);
  const problems: Array<string | undefined> = [...checkKeys(input, SPEC_KEYS, where)];
  const rolloutIn = input.rollout === undefined ? {} : input.rollout;
  if (!isRecord(rolloutIn)) throw new ValidationError([`${where}.rollout must be an object`]);
  problems.push(...checkKeys(rolloutIn, ROLLOUT_KEYS, `${where}.rollout`));
  const rollout: RolloutSpec = { ...DEFAULT_ROLLOUT, ...(rolloutIn as Partial<RolloutSpec>) };
  problems.push(checkMaxUnavailable(rollout.maxUnavailable, `${where}.rollout.maxUnavailable`));
  problems.push(checkCount(rollout.maxLaunching, `${where}.rollout.maxLaunching`, 1, 10_000));
  problems.push(checkCount(rollout.maxFailures, `${where}.rollout.maxFailures`, 1, 10_000));
  problems.push(checkCount(rollout.syncTimeoutSeconds, `${where}.rollout.syncTimeoutSeconds`, 10, 172_800));
  problems.push(checkCount(rollout.maxAttempts, `${where}.rollout.maxAttempts`, 1, 100));
  for (const flag of ['autoRollback', 'paused', 'drain'] as const) {
    if (typeof rollout[flag] !== 'boolean') problems.push(`${where}.rollout.${flag} must be true or false`);
  }
  problems.push(...checkSteps(rollout.steps, `${where}.rollout.steps`));
  problems.push(...checkPromotion(rollout.promote, `${where}.rollout.promote`));

  const spec: FleetSpec = {
    autoScalingGroupName: input.autoScalingGroupName as string,
    lifecycleHookName: (input.lifecycleHookName ?? DEFAULT_LIFECYCLE_HOOK) as string,
    targetGroupArns: (input.targetGroupArns ?? []) as string[],
    source: input.source as string,
    destination: input.destination as string,
    revision: input.revision as string,
    strategy: (input.strategy ?? 'release') as FleetSpec['strategy'],
    excludes: (input.excludes ?? DEFAULT_EXCLUDES) as string[],
    links: (input.links ?? {}) as Record<string, string>,
    rollout,
    keepReleases: (input.keepReleases ?? DEFAULT_KEEP_RELEASES) as number,
    retries: (input.retries ?? {}) as Record<string, string>,
  };
  if (input.check !== undefined) spec.check = input.check as { command: string };
  if (input.checkUser !== undefined) spec.checkUser = input.checkUser as string;

  problems.push(patternCheck(PATTERNS.asgName, 'use the Auto Scaling group name, 1-255 printable characters without spaces')(
    spec.autoScalingGroupName, `${where}.autoScalingGroupName`));
  problems.push(patternCheck(PATTERNS.hookName, 'use 1-255 letters, digits and . _ - /')(
    spec.lifecycleHookName, `${where}.lifecycleHookName`));
  if (!Array.isArray(spec.targetGroupArns)) problems.push(`${where}.targetGroupArns must be a list of target group ARNs`);
  else spec.targetGroupArns.forEach((arn, i) => problems.push(patternCheck(PATTERNS.targetGroupArn,
    'use a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)')(arn, `${where}.targetGroupArns[${i}]`)));
  problems.push(checkSource(spec.source, `${where}.source`));
  problems.push(checkDestination(spec.destination, `${where}.destination`));
  problems.push(checkRevision(spec.revision, `${where}.revision`));
  if (spec.strategy !== 'release' && spec.strategy !== 'inplace') {
    problems.push(`${where}.strategy must be release or inplace, got ${JSON.stringify(spec.strategy)}`);
  }
  if (!Array.isArray(spec.excludes)) problems.push(`${where}.excludes must be a list of patterns (like ["media/*", "var/*"])`);
  else spec.excludes.forEach((p, i) => problems.push(checkExclude(p, `${where}.excludes[${i}]`)));
  if (!isRecord(spec.links)) problems.push(`${where}.links must map a name in the release to an absolute folder`);
  else for (const [name, target] of Object.entries(spec.links)) {
    problems.push(patternCheck(PATTERNS.linkName, 'use a relative name of letters, digits and . _ - / (like media)')(
      name, `${where}.links key`));
    if (!noDotDot(name) || name.split('/').includes('.')) {
      problems.push(`${where}.links key ${JSON.stringify(name)} must not contain a "." or ".." segment (like media or shared/uploads)`);
    }
    problems.push(checkDestination(target, `${where}.links.${name}`));
  }
  if (spec.strategy === 'release' && Array.isArray(spec.excludes) && isRecord(spec.links)) {
    problems.push(...releaseExcludeProblems({ excludes: spec.excludes, links: spec.links, prefix: `${where}.` }));
  }
  if (spec.strategy === 'inplace' && isRecord(spec.links) && Object.keys(spec.links).length > 0) {
    problems.push(`${where}.links needs strategy release (inplace syncs straight into the destination)`);
  }
  if (spec.check !== undefined) {
    if (!isRecord(spec.check) || Object.keys(spec.check).some((k) => k !== 'command')) {
      problems.push(`${where}.check must be { command: /absolute/path/to/program }`);
    } else {
      problems.push(patternCheck(PATTERNS.checkCommand,
        'use the absolute path of a program without arguments (like /usr/local/bin/app-healthcheck)')(
        spec.check.command, `${where}.check.command`));
    }
  }
  if (spec.checkUser !== undefined) {
    problems.push(checkCheckUser(spec.checkUser, `${where}.checkUser`));
    if (spec.check === undefined) {
      problems.push(`${where}.checkUser needs a check to run as that user: add check: { command: /absolute/path/to/program }, or remove checkUser`);
    }
  }
  problems.push(checkCount(spec.keepReleases, `${where}.keepReleases`, 1, 100));
  if (!isRecord(spec.retries)) problems.push(`${where}.retries must map instance ids to request ids`);
  else for (const id of Object.keys(spec.retries)) problems.push(checkInstanceId(id, `${where}.retries key`));
  assertValid(problems);
  return spec;
}

const RESOURCE_KEYS = ['apiVersion', 'kind', 'metadata', 'spec', 'status', 'hosts'] as const;

/** Validates a Fleet resource (YAML or JSON, already parsed). */
export function parseFleetResource(input: unknown): { name: string; spec: FleetSpec } {
  if (!isRecord(input)) throw new ValidationError(['the file must hold one Fleet resource (an object)']);
  // status and hosts are what `status -o yaml` prints beside the resource: accepted (and ignored) so its output applies again
  const problems: string[] = Object.keys(input).filter((k) => !(RESOURCE_KEYS as readonly string[]).includes(k))
    .map((k) => `${k} is not a known top-level field (known: ${RESOURCE_KEYS.join(', ')})`
      + ((SPEC_KEYS as readonly string[]).includes(k) ? `: move it under spec (spec.${k})` : ''));
  if (input.apiVersion !== API_VERSION) problems.push(`apiVersion must be ${API_VERSION}, got ${JSON.stringify(input.apiVersion)}`);
  if (input.kind !== 'Fleet') problems.push(`kind must be Fleet, got ${JSON.stringify(input.kind)}`);
  const metadata = isRecord(input.metadata) ? input.metadata : {};
  const nameProblem = checkFleetName(metadata.name, 'metadata.name');
  if (nameProblem) problems.push(nameProblem);
  if (problems.length > 0) throw new ValidationError(problems);
  return { name: metadata.name as string, spec: parseFleetSpec(input.spec) };
}

/** Resolves maxUnavailable against the in-service hosts at the start of the rollout (rounded down, at least 1). */
export function resolveMaxUnavailable(value: number | string, inServiceHosts: number): number {
  if (typeof value === 'number') return Math.max(1, value);
  const percent = /^(\d+)%$/.exec(value);
  if (percent) return Math.max(1, Math.floor((Number(percent[1]) * inServiceHosts) / 100));
  return Math.max(1, Number(value));
}
