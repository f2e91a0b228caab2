/** The fleets table: one row per fleet, with its revisions, conditions, host counts and rollout progress. */
import { command, fill, h, text } from './dom.js';
import { BUCKETS, conditionCell, progress } from './parts.js';

export class FleetsPage {
  constructor(root) {
    this.body = h('div', { class: 'fleets' }, h('p', { class: 'muted', text: 'loading…' }));
    fill(root, h('h1', { text: 'Fleets' }), this.body);
  }

  update(data, error) {
    if (!data) {
      fill(this.body, h('p', { class: 'error', text: error }));
      return;
    }
    const rows = data.fleets.map((f) => h('tr', { 'data-fleet': f.name },
      h('td', {}, h('a', { href: `/fleets/${encodeURIComponent(f.name)}`, text: f.name })),
      h('td', { class: 'rev', text: text(f.desired) }),
      h('td', { class: 'rev', text: text(f.complete) }),
      conditionCell(f, 'Ready'), conditionCell(f, 'Progressing'), conditionCell(f, 'Degraded'),
      h('td', { text: f.paused ? 'paused' : 'no', class: f.paused ? 'paused' : '' }),
      h('td', { class: 'num', text: f.counts.total }),
      ...BUCKETS.map((b) => h('td', { class: `num b-${b.key}-text`, text: f.counts[b.key] ?? 0 })),
      h('td', {}, progress(f)),
    ));
    const table = h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ...['Fleet', 'Desired', 'Complete', 'Ready', 'Progressing', 'Degraded', 'Paused', 'Hosts',
        ...BUCKETS.map((b) => b.label), 'Rollout'].map((t) => h('th', { text: t })))),
      h('tbody', {}, rows));
    const parts = [data.fleets.length > 0 ? table : h('p', { text: 'No fleets yet. Create one:' }, command(`${data.cli} fleet apply -f fleet.yaml`))];
    for (const e of data.errors ?? []) parts.push(h('p', { class: 'error', text: `unreadable fleet item ${e.key}: ${e.error}` }));
    parts.push(h('p', { class: 'muted' }, 'Every fleet from a terminal: ', command(`${data.cli} status`)));
    fill(this.body, ...parts);
  }
}
