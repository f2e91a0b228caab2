/**
 * The protocol between the controller and deploy/host/fleetsync-sync.sh: the script's arguments, the SSM
 * document's parameters (the same values, one key each) and the script's one result line. Every adapter that
 * runs the script (SSM, local child processes) goes through here, so values are validated once more right
 * before they leave the controller.
 */
import type { CommandMode, HostResult, InvocationResult, SyncParams } from './ports/commands.ts';
import {
  PATTERNS, ValidationError, checkCheckUser, checkDestination, checkExclude, checkRevision, checkSource,
  releaseExcludeProblems,
} from '../state/validate.ts';

export const DEFAULT_DOCUMENT_NAME = 'fleetsync-sync';

/** Host script exit codes (design Contract). Never 194 or 3010: SSM reads those as reboot requests. */
export const EXIT = { synced: 0, badArguments: 2, syncFailed: 3, checkFailed: 4, busy: 75 } as const;

export const RESULT_PREFIX = 'FLEETSYNC-RESULT ';

/** Attempt ids travel in SSM's comment and the host's log. */
export const ATTEMPT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** List parameters travel as one string: SSM String parameters can use ENV_VAR interpolation, lists cannot. */
export const LIST_SEPARATOR = ',';

export const MIN_KEEP_RELEASES = 1;
export const MAX_KEEP_RELEASES = 100;

/**
 * Document parameter name -> script flag, in argv order. The names are camelCase because the SSM agent
 * exposes each one as the environment variable SSM_<name>.
 */
export const PARAMETER_FLAGS = [
  ['mode', '--mode'],
  ['source', '--source'],
  ['revision', '--revision'],
  ['destination', '--destination'],
  ['strategy', '--strategy'],
  ['excludes', '--excludes'],
  ['links', '--links'],
  ['checkCommand', '--check'],
  ['checkUser', '--check-user'],
  ['keepReleases', '--keep-releases'],
  ['attemptId', '--attempt-id'],
] as const;

export type ParameterName = (typeof PARAMETER_FLAGS)[number][0];

export interface HostCommandArgs {
  mode: CommandMode;
  params: SyncParams;
  attemptId: string;
}

function noDotDot(value: string): boolean {
  return !value.split('/').includes('..');
}

/** No ".", ".." or empty segment: a link name is created inside the release and must stay there. */
function plainSegments(value: string): boolean {
  return value.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function problemsOf(args: HostCommandArgs): string[] {
  const { mode, params, attemptId } = args;
  const problems: Array<string | undefined> = [];
  if (mode !== 'sync' && mode !== 'probe') problems.push(`mode must be sync or probe, got ${JSON.stringify(mode)}`);
  problems.push(checkSource(params.source, 'source'));
  problems.push(checkRevision(params.revision, 'revision'));
  problems.push(checkDestination(params.destination, 'destination'));
  if (params.strategy !== 'release' && params.strategy !== 'inplace') {
    problems.push(`strategy must be release or inplace, got ${JSON.stringify(params.strategy)}`);
  }
  if (!Array.isArray(params.excludes)) problems.push('excludes must be a list of patterns (like ["media/*", "var/*"])');
  else params.excludes.forEach((p, i) => problems.push(checkExclude(p, `excludes[${i}]`)));
  const links = Object.entries(params.links ?? {});
  for (const [name, target] of links) {
    if (!PATTERNS.linkName.test(name) || !plainSegments(name)) {
      problems.push(`link name ${JSON.stringify(name)} is not valid: use a relative name of letters, digits and . _ - / without . or .. segments (like media)`);
    }
    problems.push(checkDestination(target, `link target of ${JSON.stringify(name)}`));
  }
  if (params.strategy === 'release' && Array.isArray(params.excludes)) {
    problems.push(...releaseExcludeProblems({ excludes: params.excludes, links: params.links ?? {}, prefix: '' }));
  }
  if (params.strategy === 'inplace' && links.length > 0) {
    problems.push('links need strategy release (inplace syncs straight into the destination)');
  }
  if (params.checkCommand !== undefined && (typeof params.checkCommand !== 'string'
    || !PATTERNS.checkCommand.test(params.checkCommand) || !noDotDot(params.checkCommand))) {
    problems.push(`check command ${JSON.stringify(params.checkCommand)} is not valid: use the absolute path of a program without arguments (like /usr/local/bin/app-healthcheck)`);
  }
  if (params.checkUser !== undefined) {
    problems.push(checkCheckUser(params.checkUser, 'check user'));
    if (params.checkCommand === undefined) problems.push('a check user needs a check command (the user runs the check)');
  }
  if (!Number.isInteger(params.keepReleases) || params.keepReleases < MIN_KEEP_RELEASES
    || params.keepReleases > MAX_KEEP_RELEASES) {
    problems.push(`keepReleases must be a whole number from ${MIN_KEEP_RELEASES} to ${MAX_KEEP_RELEASES}, got ${JSON.stringify(params.keepReleases)}`);
  }
  if (typeof attemptId !== 'string' || !ATTEMPT_ID_PATTERN.test(attemptId)) {
    problems.push(`attempt id ${JSON.stringify(attemptId)} is not valid: use 1-64 letters, digits and . _ -`);
  }
  return problems.filter((p): p is string => p !== undefined);
}

/** The values of every document parameter, validated; throws ValidationError listing every problem. */
function parameterValues(args: HostCommandArgs): Record<ParameterName, string> {
  const problems = problemsOf(args);
  if (problems.length > 0) throw new ValidationError(problems);
  const { mode, params, attemptId } = args;
  return {
    mode,
    source: params.source,
    revision: params.revision,
    destination: params.destination,
    strategy: params.strategy,
    excludes: params.excludes.join(LIST_SEPARATOR),
    links: Object.entries(params.links ?? {}).map(([name, target]) => `${name}=${target}`).join(LIST_SEPARATOR),
    checkCommand: params.checkCommand ?? '',
    checkUser: params.checkUser ?? '',
    keepReleases: String(params.keepReleases),
    attemptId,
  };
}

/** argv for deploy/host/fleetsync-sync.sh (what local Commands run), without the script's path. */
export function scriptArgs(args: HostCommandArgs): string[] {
  const values = parameterValues(args);
  return PARAMETER_FLAGS.flatMap(([name, flag]) => [flag, values[name]]);
}

/** SSM SendCommand Parameters for the document (same values, one key per document parameter). */
export function ssmParameters(args: HostCommandArgs): Record<string, string[]> {
  const values = parameterValues(args);
  return Object.fromEntries(PARAMETER_FLAGS.map(([name]) => [name, [values[name]]]));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalType(obj: Record<string, unknown>, key: string, type: 'string' | 'number'): boolean {
  return obj[key] === undefined || typeof obj[key] === type;
}

/**
 * Finds and parses the `FLEETSYNC-RESULT {json}` line in a command's stdout. A missing line, a line cut short
 * (SSM keeps only the first 2,500 characters) or a line of the wrong shape is an error with a reason.
 */
export function parseResultLine(stdout: string): { ok: true; result: HostResult } | { ok: false; reason: string } {
  const lines = stdout.split(/\r?\n/).filter((line) => line.startsWith(RESULT_PREFIX));
  if (lines.length === 0) {
    return { ok: false, reason: `no ${RESULT_PREFIX.trim()} line in the command output (the host script did not finish, or is not fleetsync-sync.sh)` };
  }
  if (lines.length > 1) {
    return { ok: false, reason: `${lines.length} ${RESULT_PREFIX.trim()} lines in the command output, expected exactly one` };
  }
  const json = (lines[0] as string).slice(RESULT_PREFIX.length).trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `the ${RESULT_PREFIX.trim()} line is not complete JSON (cut short?): ${reason}` };
  }
  if (!isRecord(parsed)) return { ok: false, reason: `the ${RESULT_PREFIX.trim()} line does not hold a JSON object` };
  const shapeOk = (parsed.revision === null || (typeof parsed.revision === 'string' && parsed.revision !== ''))
    && typeof parsed.status === 'string'
    && optionalType(parsed, 'strategy', 'string') && optionalType(parsed, 'files', 'number')
    && optionalType(parsed, 'bytes', 'number') && optionalType(parsed, 'seconds', 'number')
    && optionalType(parsed, 'log', 'string') && optionalType(parsed, 'error', 'string')
    && ['downloadedFiles', 'downloadedBytes', 'reusedFiles', 'reusedBytes', 'hashedFiles'].every((key) => optionalType(parsed, key, 'number'));
  if (!shapeOk) {
    return { ok: false, reason: `the ${RESULT_PREFIX.trim()} line does not have the expected fields (revision, status, ...): ${json.slice(0, 200)}` };
  }
  if (typeof parsed.revision === 'string' && !PATTERNS.revision.test(parsed.revision)) {
    return { ok: false, reason: `the ${RESULT_PREFIX.trim()} line reports an invalid revision ${JSON.stringify(parsed.revision)}` };
  }
  return { ok: true, result: parsed as unknown as HostResult };
}

/**
 * A finished run of the host script (through SSM or as a local child process) → the Commands port's per-host
 * result, from its exit code and stdout. A success needs a well-formed result line; a failure takes its reason
 * from the line when there is one. `ended` says how a run without an exit code ended (a signal, SSM's word).
 */
export function invocationFromOutput(args: {
  instanceId: string; exitCode: number | undefined; stdout: string; ended?: string; stderrTail?: string;
}): InvocationResult {
  const { instanceId, exitCode } = args;
  const code = exitCode !== undefined ? { exitCode } : {};
  const parsed = parseResultLine(args.stdout);
  if (exitCode === EXIT.busy) {
    return {
      instanceId, status: 'busy', ...code, ...(parsed.ok ? { result: parsed.result } : {}),
      error: (parsed.ok ? parsed.result.error : undefined) ?? 'another sync holds the host lock (exit 75): retry later',
    };
  }
  if (exitCode === EXIT.synced) {
    if (parsed.ok) return { instanceId, status: 'success', ...code, result: parsed.result };
    return { instanceId, status: 'failed', ...code, error: `the host script succeeded but ${parsed.reason}` };
  }
  const exit = exitCode !== undefined ? `exit ${exitCode}` : (args.ended ?? 'the command failed');
  if (parsed.ok) {
    return { instanceId, status: 'failed', ...code, result: parsed.result, error: parsed.result.error ?? `${exit}, status ${parsed.result.status}` };
  }
  const tail = (args.stderrTail ?? '').trim().split('\n').slice(-3).join(' | ');
  return { instanceId, status: 'failed', ...code, error: `${exit}; ${parsed.reason}${tail ? `; stderr: ${tail}` : ''}` };
}
