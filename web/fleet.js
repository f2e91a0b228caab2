/** One fleet: its state, the commands to act on it, the rollout chart, its hosts and its history. */
import { command, fill, h, text, utc } from './dom.js';
import { conditionCell, progress } from './parts.js';
import { rolloutChart } from './chart.js';
import { HostsView } from './hosts.js';

export class FleetPage {
  constructor(root, name) {
    this.name = name;
    this.head = h('section', { class: 'head' }, h('h1', { text: name }), h('p', { class: 'muted', text: 'loading…' }));
    this.actions = h('section', { class: 'actions' });
    this.chart = h('section', { class: 'chart' });
    this.hosts = new HostsView();
    this.history = h('section', { class: 'history' });
    fill(root, h('p', { class: 'crumbs' }, h('a', { href: '/', text: '← all fleets' })),
      this.head, this.actions, this.chart, this.hosts.root, this.history);
  }

  update(data, error, nowMs) {
    if (!data) {
      fill(this.head, h('h1', { text: this.name }), h('p', { class: 'error', text: error }));
      return;
    }
    const f = data.fleet;
    const cli = data.cli;
    this.drawHead(f);
    this.drawActions(f, cli);
    fill(this.chart, h('h2', { text: 'Rollout' }), rolloutChart(f, nowMs));
    this.hosts.update(f, cli);
    this.drawHistory(f);
  }

  drawHead(f) {
    const conditions = h('table', { class: 'conditions' },
      h('tr', {}, h('th', { text: 'Ready' }), h('th', { text: 'Progressing' }), h('th', { text: 'Degraded' })),
      h('tr', {}, conditionCell(f, 'Ready'), conditionCell(f, 'Progressing'), conditionCell(f, 'Degraded')));
    const facts = [
      ['desired revision', f.desired], ['complete revision', text(f.complete)],
      ['generation', `${f.generation} (observed ${text(f.observedGeneration)})`], ['paused', f.paused ? 'yes' : 'no'],
      ['source', f.spec.source], ['destination', f.spec.destination], ['strategy', f.spec.strategy],
      ['maxUnavailable', f.spec.maxUnavailable], ['maxFailures', f.spec.maxFailures], ['autoRollback', f.spec.autoRollback ? 'yes' : 'no'],
    ];
    const messages = Object.entries(f.conditions).map(([type, c]) => h('li', {}, h('b', { text: `${type}: ` }), `${c.reason} (${c.message})`));
    fill(this.head,
      h('h1', {}, this.name, f.paused ? h('span', { class: 'badge paused', text: 'paused' }) : null),
      h('div', { class: 'overview' },
        h('div', {}, progress(f), conditions, h('ul', { class: 'messages' }, messages)),
        h('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: text(v) })]))),
      f.errors.length > 0 ? h('ul', { class: 'error' }, f.errors.map((e) => h('li', { text: e }))) : null);
  }

  drawActions(f, cli) {
    const n = f.name;
    const rows = [
      ['Deploy a revision', `${cli} deploy ${n} <revision> --reason "<why>"`],
      f.paused ? ['Resume the rollout', `${cli} resume ${n} --reason "<why>"`] : ['Pause the rollout', `${cli} pause ${n} --reason "<why>"`],
      ...(f.rollout?.step?.pauseUntilMs !== undefined && f.rollout.finishedAtMs === undefined
        ? [[`Go on after step ${f.rollout.step.index + 1} now`, `${cli} promote ${n} --reason "<why>"`]] : []),
      ['Roll back to the previous revision', `${cli} rollback ${n} --reason "<why>"`],
      ['Follow it in a terminal', `${cli} status ${n} --watch`],
      ['History', `${cli} history ${n}`],
    ];
    const failed = f.hosts.filter((row) => row[1] === 'failed').slice(0, 5);
    for (const row of failed) rows.push([`Retry the failed host ${row[0]}`, `${cli} retry ${n} ${row[0]}`]);
    fill(this.actions, h('h2', { text: 'Act (from a terminal)' }),
      h('table', { class: 'commands' }, rows.map(([what, line]) => h('tr', {}, h('td', { text: what }), h('td', {}, command(line))))));
  }

  drawHistory(f) {
    const rows = f.history.map((e) => h('tr', { class: `ev-${String(e.type)}` },
      h('td', { class: 'time', text: utc(e.atMs) }), h('td', { text: text(e.type) }), h('td', { text: text(e.actor) }),
      h('td', { class: 'rev', text: text(e.revision) }), h('td', { text: text(e.message) }), h('td', { class: 'reason', text: text(e.reason) })));
    fill(this.history, h('h2', { text: 'History (newest first)' }),
      rows.length === 0 ? h('p', { class: 'muted', text: 'no events yet' })
        : h('table', { class: 'list' },
          h('thead', {}, h('tr', {}, ...['Time (UTC)', 'Event', 'Actor', 'Revision', 'Message', 'Reason'].map((t) => h('th', { text: t })))),
          h('tbody', {}, rows)));
  }
}
