/** `status` as text: a summary a person reads at a glance, then the conditions and one row per host. */
import { formatSize } from '../../state/format.ts';
import { stepLabel } from '../../state/steps.ts';
import type { Condition, ConditionType, FleetStatus } from '../../state/spec.ts';
import type { FleetDocument, FleetListDocument } from '../status/fleetDocument.ts';
import { age, isoTime, orDash, table } from './output.ts';

export function condition(status: FleetStatus | undefined, type: ConditionType): Condition | undefined {
  return status?.conditions.find((c) => c.type === type);
}

function sinceMs(iso: string, nowMs: number): string {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '-' : age(nowMs - at);
}

/** running / paused / halted / finished, as the operator would say it */
export function rolloutPhase(doc: FleetDocument): string {
  const status = doc.status;
  const progressing = condition(status, 'Progressing');
  const degraded = condition(status, 'Degraded');
  if ((progressing?.status === 'False' && progressing.reason === 'RolloutHalted')
    || (degraded?.status === 'True' && degraded.reason === 'MaxFailuresReached')) return 'halted';
  if (doc.spec.rollout.paused) return 'paused';
  if (!status || status.observedGeneration < doc.metadata.generation) return 'waiting for the controller';
  if (condition(status, 'Ready')?.status === 'True') return 'finished';
  const step = doc.spec.rollout.steps && status.rollout?.revision === doc.spec.revision ? status.rollout.step : undefined;
  if (step) return step.pauseUntilMs !== undefined ? `paused after step ${step.index + 1}/${step.count}` : `in progress, step ${step.index + 1}/${step.count}`;
  return 'in progress';
}

export function countsLine(status: FleetStatus): string {
  const c = status.hostCounts;
  return `${c.total} total: ${c.inSync} in sync, ${c.syncing} syncing, ${c.queued} queued, ${c.failed} failed, ${c.launching} launching`
    + (c.warm ? `; ${c.warm} asleep in the warm pool` : '');
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}

export function hostTable(doc: FleetDocument, nowMs: number): string {
  if (doc.hosts.length === 0) return '  (no hosts reported yet)';
  return indent(table(
    ['INSTANCE', 'LIFECYCLE', 'STATE', 'REVISION', 'TARGET', 'ATTEMPT', 'AGE', 'ERROR'],
    doc.hosts.map((h) => [
      h.instanceId, h.lifecycleState, h.state, orDash(h.reportedRevision), orDash(h.targetRevision),
      String(h.attempt), sinceMs(h.since, nowMs), orDash(h.lastError),
    ]),
  ));
}

export function conditionTable(status: FleetStatus, nowMs: number): string {
  if (status.conditions.length === 0) return '  (none yet)';
  return indent(table(
    ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
    status.conditions.map((c) => [c.type, c.status, c.reason, sinceMs(c.lastTransitionTime, nowMs), c.message]),
  ));
}

/** " (2000 files, 1.7 MB)" when the rollout of the desired revision knows its size. */
function desiredSize(doc: FleetDocument): string {
  const rollout = doc.status?.rollout;
  if (rollout?.revision !== doc.spec.revision || rollout.files === undefined || rollout.bytes === undefined) return '';
  return ` (${formatSize({ files: rollout.files, bytes: rollout.bytes })})`;
}

/**
 * "step 2/4 (40 hosts) in progress" while a stepped rollout of the desired revision is under way; a pause says how
 * long it has left, or without `nowMs` (a line that must not change every second) when it ends.
 */
export function stepText(doc: FleetDocument, nowMs?: number): string | null {
  const rollout = doc.status?.rollout;
  const step = rollout?.step;
  if (!doc.spec.rollout.steps || !step || rollout.revision !== doc.spec.revision) return null;
  if (rollout.finishedAtMs !== undefined) return `${step.count}/${step.count} done`;
  const label = stepLabel(step);
  if (step.pauseUntilMs !== undefined && (nowMs === undefined || step.pauseUntilMs > nowMs)) {
    const left = nowMs === undefined ? `until ${isoTime(step.pauseUntilMs)}` : `for ${age(step.pauseUntilMs - nowMs)} more`;
    return `${label} in sync; paused ${left} (fleetsync promote ${doc.metadata.name} goes on now)`;
  }
  return step.doneAtMs !== undefined ? `${label} in sync` : `${label} in progress`;
}

/** A leader confirms its status every resync (30 s by default): several minutes without means none is acting. */
const STALE_STATUS_MS = 120_000;

function observedLine(observedAt: string, nowMs: number): string {
  const at = Date.parse(observedAt);
  if (Number.isNaN(at)) return observedAt;
  const ago = `${age(nowMs - at)} ago`;
  return nowMs - at > STALE_STATUS_MS
    ? `${ago}: older than the controller leaves it; is a controller running for this table?`
    : ago;
}

export function fleetText(doc: FleetDocument, nowMs: number): string {
  const { spec, status } = doc;
  const lines = [
    `Fleet ${doc.metadata.name}  (generation ${doc.metadata.generation}${status ? `, observed ${status.observedGeneration}` : ''})`,
    `  group:     ${spec.autoScalingGroupName}`,
    `  source:    ${spec.source}  ->  ${spec.destination} (${spec.strategy})`,
    `  desired:   ${spec.revision}${desiredSize(doc)}`,
    `  reached:   ${orDash(status?.revision)}  (the revision every live host runs)`,
    `  rollout:   ${rolloutPhase(doc)}`,
  ];
  const step = stepText(doc, nowMs);
  if (step !== null) lines.push(`  step:      ${step}`);
  if (!status) {
    lines.push('  status:    not observed yet: is a controller running for this table?');
  } else {
    if (status.observedAt !== undefined) lines.push(`  observed:  ${observedLine(status.observedAt, nowMs)}`);
    lines.push(`  hosts:     ${countsLine(status)}`, '', 'Conditions:', conditionTable(status, nowMs));
  }
  lines.push('', 'Hosts:', hostTable(doc, nowMs));
  if (status?.errors?.length) lines.push('', 'Errors:', ...status.errors.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

export function fleetListText(list: FleetListDocument): string {
  const lines: string[] = [];
  if (list.items.length === 0) {
    lines.push('no fleets yet: create one with `fleetsync fleet apply -f fleet.yaml`');
  } else {
    lines.push(table(
      ['NAME', 'DESIRED', 'REACHED', 'IN SYNC', 'READY', 'DEGRADED', 'ROLLOUT'],
      list.items.map((doc) => [
        doc.metadata.name, doc.spec.revision, orDash(doc.status?.revision),
        doc.status ? `${doc.status.hostCounts.inSync}/${doc.status.hostCounts.total}` : '-',
        orDash(condition(doc.status, 'Ready')?.status), orDash(condition(doc.status, 'Degraded')?.status),
        rolloutPhase(doc),
      ]),
    ));
  }
  for (const e of list.errors ?? []) lines.push(`unreadable item ${e.key}: ${e.error}`);
  return `${lines.join('\n')}\n`;
}
