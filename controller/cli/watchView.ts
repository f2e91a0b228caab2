/**
 * What `status --watch` shows: a frame for a terminal (progress bar, conditions, host table) and, in a pipe,
 * one line per change. Pure: the time is given.
 */
import type { HostView } from '../../state/host.ts';
import type { FleetDocument } from '../status/fleetDocument.ts';
import { age, isoTime, orDash, table } from './output.ts';
import { condition, rolloutPhase, stepText } from './textStatus.ts';

export interface WatchOutcome {
  exitCode: 0 | 1;
  result: 'finished' | 'halted' | 'failed';
  message: string;
}

const live = (doc: FleetDocument): HostView[] => doc.hosts.filter((h) => h.state !== 'gone');

export function atDesired(doc: FleetDocument): number {
  return live(doc).filter((h) => h.state === 'inSync' && h.reportedRevision === doc.spec.revision).length;
}

/**
 * Finished: the controller has seen this generation, Ready is True and every live host is in sync at the desired
 * revision. Halted: Degraded is True. Failed: a host failed. Otherwise the rollout is still going.
 */
export function outcomeOf(doc: FleetDocument): WatchOutcome | null {
  const { status } = doc;
  if (!status || status.observedGeneration < doc.metadata.generation) return null;
  const name = doc.metadata.name;
  const degraded = condition(status, 'Degraded');
  const failed = live(doc).filter((h) => h.state === 'failed');
  if (failed.length > 0) {
    const first = failed[0]!;
    return {
      exitCode: 1, result: 'failed',
      message: `fleet ${name}: ${failed.length} host(s) failed (${first.instanceId}: ${first.lastError ?? 'no reason recorded'}):`
        + ` see \`fleetsync history ${name}\`, then \`fleetsync retry ${name} ${first.instanceId}\` or \`fleetsync rollback ${name}\``,
    };
  }
  if (degraded?.status === 'True') {
    return {
      exitCode: 1, result: 'halted',
      message: `fleet ${name}: rollout of ${doc.spec.revision} halted (${degraded.reason}: ${degraded.message})`,
    };
  }
  const hosts = live(doc);
  if (condition(status, 'Ready')?.status === 'True' && atDesired(doc) === hosts.length) {
    return { exitCode: 0, result: 'finished', message: `fleet ${name}: rollout finished, all ${hosts.length} host(s) at ${doc.spec.revision}` };
  }
  return null;
}

export function progressBar(done: number, total: number, width: number): string {
  const filled = total === 0 ? 0 : Math.round((done / total) * width);
  const percent = total === 0 ? 0 : Math.floor((done / total) * 100);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} hosts at the desired revision (${percent}%)`;
}

function sinceAge(iso: string, nowMs: number): string {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '-' : age(nowMs - at);
}

/** The terminal frame: redrawn in place on every poll. */
export function watchFrame(doc: FleetDocument, args: { nowMs: number; intervalMs: number }): string[] {
  const { status } = doc;
  const hosts = live(doc);
  const lines = [
    `fleet ${doc.metadata.name}: ${doc.spec.revision} (generation ${doc.metadata.generation}`
      + `${status ? `, observed ${status.observedGeneration}` : ', not observed yet'})  rollout ${rolloutPhase(doc)}`,
    progressBar(atDesired(doc), hosts.length, 30),
  ];
  const step = stepText(doc, args.nowMs);
  if (step !== null) lines.push(step);
  if (status) {
    const c = status.hostCounts;
    lines.push(`in sync ${c.inSync}  syncing ${c.syncing}  queued ${c.queued}  failed ${c.failed}  launching ${c.launching}`
      + `  reached ${orDash(status.revision)}`);
    for (const cond of status.conditions) lines.push(`${cond.type.padEnd(11)} ${cond.status.padEnd(7)} ${cond.reason}: ${cond.message}`);
  }
  lines.push('');
  if (hosts.length === 0) lines.push('(no hosts reported yet)');
  else {
    lines.push(...table(['INSTANCE', 'STATE', 'REVISION', 'TARGET', 'ATTEMPT', 'AGE', 'ERROR'],
      hosts.map((h) => [h.instanceId, h.state, orDash(h.reportedRevision), orDash(h.targetRevision), String(h.attempt),
        sinceAge(h.since, args.nowMs), orDash(h.lastError)])).split('\n'));
  }
  lines.push('', `${isoTime(args.nowMs)}  every ${Math.round(args.intervalMs / 1000)}s  Ctrl-C to stop`);
  return lines;
}

/** What a change line compares: the document without the controller's write and confirmation times. */
export function changeKey(doc: FleetDocument): string {
  const { status } = doc;
  if (!status) return JSON.stringify(doc);
  const { observedAt: _observedAt, ...rest } = status;
  return JSON.stringify({ ...doc, status: { ...rest, updatedAtMs: 0 } });
}

function summaryOf(doc: FleetDocument): string {
  const { status } = doc;
  if (!status) return `desired ${doc.spec.revision}, not observed by a controller yet`;
  const c = status.hostCounts;
  const conds = status.conditions.map((x) => `${x.type}=${x.status}`).join(' ');
  return `desired ${doc.spec.revision} (generation ${doc.metadata.generation}, observed ${status.observedGeneration}),`
    + ` ${atDesired(doc)}/${live(doc).length} at it; in sync ${c.inSync} syncing ${c.syncing} queued ${c.queued}`
    + ` failed ${c.failed} launching ${c.launching}; ${conds}; rollout ${rolloutPhase(doc)}`
    + (stepText(doc) !== null ? `; ${stepText(doc)}` : '');
}

function hostLine(h: HostView): string {
  return `${h.instanceId} ${h.state} revision ${orDash(h.reportedRevision)} target ${orDash(h.targetRevision)}`
    + ` attempt ${h.attempt}${h.lastError ? ` error: ${h.lastError}` : ''}`;
}

/**
 * Pipe mode: the lines for what changed since `before` (everything when there is no `before`): the fleet's
 * summary when it changed, then one line per host that changed.
 */
export function changeLines(before: FleetDocument | null, after: FleetDocument, nowMs: number): string[] {
  const prefix = `${isoTime(nowMs)} ${after.metadata.name}`;
  const lines: string[] = [];
  if (!before || summaryOf(before) !== summaryOf(after)) lines.push(`${prefix} ${summaryOf(after)}`);
  const old = new Map((before?.hosts ?? []).map((h) => [h.instanceId, hostLine(h)]));
  for (const h of after.hosts) {
    const line = hostLine(h);
    if (old.get(h.instanceId) !== line) lines.push(`${prefix} ${line}`);
  }
  const now = new Set(after.hosts.map((h) => h.instanceId));
  for (const id of old.keys()) if (!now.has(id)) lines.push(`${prefix} ${id} no longer reported`);
  return lines;
}
