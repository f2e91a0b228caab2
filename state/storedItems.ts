/**
 * Shape checks for what a store reads back. Items can be written by hand or by a newer version, so every
 * store parses what it reads instead of trusting it; both stores share these so they agree on "malformed".
 */
import type { HostContext, HostRecord, HostState } from './host.ts';
import type { FleetSpec, FleetStatus } from './spec.ts';
import { PATTERNS, ValidationError, parseFleetSpec } from './validate.ts';

const HOST_STATES = [
  'discovered', 'waitingForAgent', 'probing', 'idle', 'inSync', 'queued', 'draining', 'syncing',
  'verifying', 'restoring', 'attemptFailed', 'cancelling', 'backoff', 'completing', 'failed', 'gone', 'warm',
] as const satisfies readonly HostState[];
// Fails to compile when a state is added to HostState but not here.
const _everyState: Exclude<HostState, (typeof HOST_STATES)[number]> extends never ? true : never = true;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Kind = 'string' | 'nullableString' | 'boolean' | 'number' | 'nullableNumber' | 'count' | 'optionalCount';

const CONTEXT_FIELDS: Record<keyof HostContext, Kind> = {
  instanceId: 'string',
  lifecycleState: 'string',
  launching: 'boolean',
  lifecycleCompleted: 'boolean',
  agentOnline: 'boolean',
  reportedRevision: 'nullableString',
  desiredRevision: 'nullableString',
  targetRevision: 'nullableString',
  attempt: 'count',
  attemptId: 'nullableString',
  commandId: 'nullableString',
  deadlineMs: 'nullableNumber',
  lastError: 'nullableString',
  failedRevision: 'nullableString',
  retryRequestId: 'nullableString',
  deregistered: 'boolean',
  refunds: 'optionalCount',
  sinceMs: 'number',
};

function kindProblem(value: unknown, kind: Kind, what: string): string | undefined {
  const ok = {
    string: typeof value === 'string',
    nullableString: value === null || typeof value === 'string',
    boolean: typeof value === 'boolean',
    number: typeof value === 'number' && Number.isFinite(value),
    nullableNumber: value === null || (typeof value === 'number' && Number.isFinite(value)),
    count: typeof value === 'number' && Number.isInteger(value) && value >= 0,
    optionalCount: value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= 0),
  }[kind];
  return ok ? undefined : `${what} must be ${kind === 'count' || kind === 'optionalCount' ? 'a whole number >= 0' : kind.replace('nullable', 'null or ').toLowerCase()}, got ${JSON.stringify(value)}`;
}

/** Throws ValidationError listing what is wrong with a stored host item. Unknown extra fields are allowed. */
export function parseHostRecord(value: unknown): HostRecord {
  if (!isRecord(value)) throw new ValidationError(['a host item must be an object with instanceId, state and context']);
  const problems: string[] = [];
  if (typeof value.instanceId !== 'string' || !PATTERNS.instanceId.test(value.instanceId)) {
    problems.push(`instanceId must look like i-0123456789abcdef0, got ${JSON.stringify(value.instanceId)}`);
  }
  if (!(HOST_STATES as readonly unknown[]).includes(value.state)) {
    problems.push(`state must be one of ${HOST_STATES.join(', ')}, got ${JSON.stringify(value.state)}`);
  }
  if (!isRecord(value.context)) {
    problems.push('context must be an object');
  } else {
    const context = value.context;
    for (const [field, kind] of Object.entries(CONTEXT_FIELDS)) {
      const problem = kindProblem(context[field], kind, `context.${field}`);
      if (problem) problems.push(problem);
    }
    if (context.instanceId !== value.instanceId) problems.push('context.instanceId must equal instanceId');
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return value as unknown as HostRecord;
}

/** A stored fleet spec with its generation; structurally the Store port's FleetRecord. */
export interface StoredFleet {
  name: string;
  generation: number;
  spec: FleetSpec;
  updatedAtMs: number;
}

export function parseStoredFleet(value: unknown): StoredFleet {
  if (!isRecord(value)) throw new ValidationError(['a fleet item must be an object with name, generation, spec and updatedAtMs']);
  const problems: string[] = [];
  if (typeof value.name !== 'string' || !PATTERNS.fleetName.test(value.name)) {
    problems.push(`name must be a fleet name (like web-prod), got ${JSON.stringify(value.name)}`);
  }
  if (typeof value.generation !== 'number' || !Number.isInteger(value.generation) || value.generation < 1) {
    problems.push(`generation must be a whole number >= 1, got ${JSON.stringify(value.generation)}`);
  }
  const updated = kindProblem(value.updatedAtMs, 'number', 'updatedAtMs');
  if (updated) problems.push(updated);
  let spec: FleetSpec | undefined;
  try {
    spec = parseFleetSpec(value.spec);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0 || spec === undefined) throw new ValidationError(problems);
  return { name: value.name as string, generation: value.generation as number, spec, updatedAtMs: value.updatedAtMs as number };
}

/** A light check: status is written only by the controller, so only what readers rely on is checked. */
export function parseFleetStatus(value: unknown): FleetStatus {
  if (!isRecord(value)) throw new ValidationError(['a status item must be an object']);
  const problems: string[] = [];
  const generation = kindProblem(value.observedGeneration, 'count', 'observedGeneration');
  if (generation) problems.push(generation);
  if (!isRecord(value.hostCounts)) problems.push('hostCounts must be an object');
  if (!Array.isArray(value.conditions)) problems.push('conditions must be a list');
  const updated = kindProblem(value.updatedAtMs, 'number', 'updatedAtMs');
  if (updated) problems.push(updated);
  if (problems.length > 0) throw new ValidationError(problems);
  return value as unknown as FleetStatus;
}
