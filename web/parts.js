/** Pieces both pages draw: buckets, condition cells, the progress bar. */
import { h } from './dom.js';

/** The host buckets of status.hostCounts, in the CLI's order. */
export const BUCKETS = [
  { key: 'inSync', label: 'In sync' },
  { key: 'syncing', label: 'Syncing' },
  { key: 'queued', label: 'Queued' },
  { key: 'failed', label: 'Failed' },
  { key: 'launching', label: 'Launching' },
  // asleep in the warm pool, counted beside the total (absent from a status with none)
  { key: 'warm', label: 'Warm pool' },
];

/** A condition's status, coloured, with its reason and message on hover. */
export function conditionCell(fleet, type) {
  const c = fleet.conditions[type];
  if (!c) return h('td', { class: 'cond unknown', text: '-' });
  const good = type === 'Degraded' ? c.status === 'False' : c.status === 'True';
  return h('td', { class: `cond ${c.status === 'Unknown' ? 'unknown' : good ? 'good' : type === 'Progressing' ? 'idle' : 'bad'}`,
    title: `${c.reason}: ${c.message}`, 'data-condition': type, text: c.status });
}

/** Hosts at the desired revision out of all, and the step when the rollout has steps. */
export function progress(fleet) {
  const total = fleet.counts.total;
  const done = Math.min(fleet.atDesired, total);
  const rollout = fleet.rollout;
  const running = rollout && rollout.finishedAtMs === undefined;
  // status.rollout.step (state/spec.ts StepRecord): the step running, counted from 0, of `count`; a pause end is
  // set once the step is done, and the controller starts the next step (a new record) when it passes
  const step = running && fleet.desired === rollout.revision ? rollout.step : undefined;
  const paused = step && step.pauseUntilMs !== undefined ? ', paused' : '';
  const steps = step && Number.isInteger(step.index) && Number.isInteger(step.count) ? ` · step ${step.index + 1} of ${step.count}${paused}` : '';
  return h('span', { class: `progress ${running ? 'running' : 'settled'}` },
    h('progress', { max: Math.max(total, 1), value: done }),
    h('span', { class: 'progress-text', text: `${done}/${total} at ${fleet.desired}${steps}` }));
}
