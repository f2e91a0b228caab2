/** Validation of everything user-supplied, against the patterns of the design's Contract. */
import {
  API_VERSION, DEFAULT_EXCLUDES, DEFAULT_KEEP_RELEASES, DEFAULT_LIFECYCLE_HOOK, DEFAULT_ROLLOUT,
  type FleetSpec, type RolloutSpec,
} from './spec.ts';

export const PATTERNS = {
  fleetName: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
  revision: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  instanceId: /^i-[0-9a-f]{8,17}$/,
  destination: /^\/[A-Za-z0-9._/-]{1,255}$/,
  exclude: /^[A-Za-z0-9._*?/-]{1,256}$/,
  linkName: /^[A-Za-z0-9._-]{1,128}(\/[A-Za-z0-9._-]{1,128})*$/,
  checkCommand: /^\/[A-Za-z0-9._/-]{1,255}$/,
  s3Source: /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._/-]{0,900})?$/,
  fileSource: /^file:\/\/\/[A-Za-z0-9._/-]{0,1000}$/,
  asgName: /^[\x21-\x7e]{1,255}$/,
  hookName: /^[A-Za-z0-9._/-]{1,255}$/,
  targetGroupArn: /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
} as const;

/** Folders a sync must never own: syncing into them would wreck the host. */
const SYSTEM_FOLDERS = new Set([
  '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/proc', '/root', '/run', '/sbin', '/sys',
  '/tmp', '/usr', '/var', '/home', '/mnt', '/opt', '/srv', '/media', '/var/lib', '/var/log', '/usr/local',
  '/usr/bin', '/usr/lib', '/usr/sbin', '/var/tmp',
]);

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
export const checkInstanceId = patternCheck(PATTERNS.instanceId, 'an instance id looks like i-0123456789abcdef0');

export const checkDestination: Check = (value, what) => {
  const base = patternCheck(PATTERNS.destination,
    'use an absolute path of letters, digits and . _ - / (like /var/www/app)')(value, what);
  if (base) return base;
  if (!noDotDot(value as string)) return `${what} ${JSON.stringify(value)} must not contain a ".." segment`;
  // Empty and "." segments name the same folder on the host ("//etc/." is /etc): compare the normal form.
  const path = `/${(value as string).split('/').filter((seg) => seg !== '' && seg !== '.').join('/')}`;
  if (path === '/' || SYSTEM_FOLDERS.has(path)) {
    return `${what} ${JSON.stringify(value)} is a system folder: use a folder of its own (like /var/www/app)`;
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

const ROLLOUT_KEYS = Object.keys(DEFAULT_ROLLOUT);
const SPEC_KEYS = ['autoScalingGroupName', 'lifecycleHookName', 'targetGroupArns', 'source', 'destination',
  'revision', 'strategy', 'excludes', 'links', 'rollout', 'check', 'keepReleases', 'retries'] as const;

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
