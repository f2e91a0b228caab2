/**
 * The rollout as a picture: hosts in sync at the rollout's revision against time, since the rollout started,
 * with halts, pauses and resumes marked. Drawn from what the status already holds: each host in sync at the
 * revision got there at its `since` time, and history gives the marks; so a reload draws the same chart.
 */
import { s, utc } from './dom.js';

const W = 720, H = 180, LEFT = 40, RIGHT = 12, TOP = 14, BOTTOM = 26;
const MARKS = {
  halted: 'halt', autoRollback: 'auto rollback', pause: 'pause', resume: 'resume', rollback: 'rollback', rolloutStarted: 'start',
  rolloutFinished: 'done', stepStarted: 'step', promote: 'promote',
};

export function rolloutChart(fleet, nowMs) {
  const revision = fleet.rollout?.revision ?? fleet.desired;
  const total = Math.max(fleet.counts.total, 1);
  const start = fleet.rollout?.startedAtMs ?? Math.min(nowMs - 60_000, ...fleet.history.map((e) => e.atMs).filter(Number.isFinite));
  // when each host now in sync at the revision got there; those before the start count from the start
  const reached = fleet.hosts.filter((row) => row[1] === 'inSync' && row[4] === revision).map((row) => Math.max(row[8], start)).sort((a, b) => a - b);
  // the server's time has whole seconds: a host may have got there after it
  const end = Math.max(nowMs, start + 1000, reached.at(-1) ?? start);
  const x = (ms) => LEFT + ((ms - start) / (end - start)) * (W - LEFT - RIGHT);
  const y = (n) => TOP + (1 - n / total) * (H - TOP - BOTTOM);

  let path = `M${x(start).toFixed(1)},${y(0).toFixed(1)}`;
  let count = 0;
  for (const t of reached) {
    path += ` H${x(t).toFixed(1)} V${y(++count).toFixed(1)}`;
  }
  path += ` H${x(end).toFixed(1)}`;

  const marks = fleet.history.filter((e) => Object.hasOwn(MARKS, e.type) && e.atMs >= start && e.atMs <= end).map((e) => s('g', { class: `mark mark-${e.type}` },
    s('line', { x1: x(e.atMs), x2: x(e.atMs), y1: TOP, y2: H - BOTTOM }),
    s('text', { x: x(e.atMs) + 3, y: TOP + 10, text: MARKS[e.type] }),
    s('title', { text: `${MARKS[e.type]} at ${utc(e.atMs)} by ${e.actor}${e.reason ? `: ${e.reason}` : ''}` })));
  // a paused stretch is shaded: from each pause to the next resume (or now, while still paused)
  const byTime = [...fleet.history].filter((e) => e.type === 'pause' || e.type === 'resume').sort((a, b) => a.atMs - b.atMs);
  const shades = [];
  byTime.forEach((e, i) => {
    if (e.type !== 'pause') return;
    const until = byTime.slice(i + 1).find((r) => r.type === 'resume')?.atMs ?? (fleet.paused ? end : e.atMs);
    const from = Math.max(e.atMs, start);
    if (until > from) shades.push(s('rect', { class: 'paused-span', x: x(from), y: TOP, width: x(until) - x(from), height: H - TOP - BOTTOM }));
  });
  if (fleet.rollout?.haltedAtMs >= start) {
    marks.push(s('g', { class: 'mark mark-halted' }, s('line', { x1: x(fleet.rollout.haltedAtMs), x2: x(fleet.rollout.haltedAtMs), y1: TOP, y2: H - BOTTOM })));
  }

  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'rollout-chart', role: 'img',
    'aria-label': `hosts in sync at ${revision}: ${count} of ${fleet.counts.total}` },
  s('title', { text: `hosts in sync at ${revision} since ${utc(start)}` }),
  s('line', { class: 'axis', x1: LEFT, x2: W - RIGHT, y1: y(0), y2: y(0) }),
  s('line', { class: 'goal', x1: LEFT, x2: W - RIGHT, y1: y(total), y2: y(total) }),
  s('text', { class: 'label', x: LEFT - 6, y: y(total) + 4, 'text-anchor': 'end', text: fleet.counts.total }),
  s('text', { class: 'label', x: LEFT - 6, y: y(0) + 4, 'text-anchor': 'end', text: 0 }),
  s('text', { class: 'label', x: LEFT, y: H - 8, text: utc(start) }),
  s('text', { class: 'label', x: W - RIGHT, y: H - 8, 'text-anchor': 'end', text: utc(end) }),
  s('text', { class: 'label legend', x: (LEFT + W) / 2, y: H - 8, 'text-anchor': 'middle', text: `hosts in sync at ${revision}: ${count}/${fleet.counts.total}` }),
  ...shades,
  ...marks,
  s('path', { class: 'series', d: path }));
}
