/**
 * A fleet's hosts: a table of up to 100 rows, or (by default above 100 hosts) a grid of one cell per host
 * coloured by bucket; filter by bucket, search by instance id. The controls are built once so a live update
 * keeps what the operator typed and chose.
 */
import { command, fill, h, text, utc } from './dom.js';
import { BUCKETS } from './parts.js';

export const TABLE_ROWS = 100;

// row layout of /api/fleets/<name> (controller/status/dashboardView.ts HostRow)
const ID = 0, BUCKET = 1, LIFECYCLE = 2, STATE = 3, REPORTED = 4, TARGET = 5, ATTEMPT = 6, ERROR = 7, SINCE = 8;

export class HostsView {
  constructor() {
    this.bucket = 'all';
    this.search = '';
    this.mode = null; // null until the first data: then table up to TABLE_ROWS hosts, else grid
    this.fleet = null;
    this.filters = h('span', { class: 'filters', role: 'group', 'aria-label': 'filter by bucket' });
    this.searchBox = h('input', {
      type: 'search', placeholder: 'search by instance id', 'aria-label': 'search by instance id', class: 'search',
      oninput: () => { this.search = this.searchBox.value.trim(); this.draw(); },
    });
    this.modeButton = h('button', { type: 'button', class: 'mode', onclick: () => {
      this.mode = this.mode === 'grid' ? 'table' : 'grid';
      this.draw();
    } });
    this.summary = h('p', { class: 'muted hosts-summary' });
    this.body = h('div', { class: 'hosts-body' });
    this.root = h('section', { class: 'hosts' }, h('h2', { text: 'Hosts' }),
      h('div', { class: 'controls' }, this.filters, this.searchBox, this.modeButton), this.summary, this.body);
  }

  update(fleet, cli) {
    this.fleet = fleet;
    this.cli = cli;
    if (this.mode === null) this.mode = fleet.hosts.length > TABLE_ROWS ? 'grid' : 'table';
    this.draw();
  }

  matching() {
    const needle = this.search.toLowerCase();
    return this.fleet.hosts.filter((row) => (this.bucket === 'all' || row[BUCKET] === this.bucket)
      && (needle === '' || row[ID].toLowerCase().includes(needle)));
  }

  draw() {
    if (!this.fleet) return;
    const hosts = this.fleet.hosts;
    const count = (key) => hosts.filter((row) => row[BUCKET] === key).length;
    fill(this.filters, ...[{ key: 'all', label: 'All' }, ...BUCKETS].map((b) => h('button', {
      type: 'button', class: `filter b-${b.key}-text${this.bucket === b.key ? ' active' : ''}`, 'aria-pressed': String(this.bucket === b.key),
      'data-bucket': b.key, text: `${b.label} ${b.key === 'all' ? hosts.length : count(b.key)}`,
      onclick: () => { this.bucket = b.key; this.draw(); },
    })));
    this.modeButton.textContent = this.mode === 'grid' ? 'show as table' : 'show as grid';
    const rows = this.matching();
    if (this.mode === 'grid') {
      this.summary.textContent = `${rows.length} of ${hosts.length} hosts, one cell each (hover for details, click for its row)`;
      fill(this.body, this.grid(rows));
    } else {
      const shown = rows.slice(0, TABLE_ROWS);
      this.summary.textContent = rows.length > shown.length
        ? `${shown.length} of ${rows.length} matching hosts shown: filter by bucket or search by id to narrow`
        : `${rows.length} of ${hosts.length} hosts`;
      fill(this.body, this.table(shown));
    }
  }

  grid(rows) {
    // grouped by bucket (in the order of the filters), each group by id: the fleet's shape reads at a glance
    const order = new Map([...BUCKETS.map((b, i) => [b.key, i]), ['gone', BUCKETS.length]]);
    const sorted = [...rows].sort((a, b) => order.get(a[BUCKET]) - order.get(b[BUCKET]) || (a[ID] < b[ID] ? -1 : 1));
    const cells = sorted.map((row) => h('span', {
      class: `cell b-${row[BUCKET]}`, 'data-id': row[ID],
      title: `${row[ID]}: ${row[STATE]}, at ${text(row[REPORTED])}${row[ERROR] ? `: ${row[ERROR]}` : ''}`,
    }));
    return h('div', {
      class: 'grid', onclick: (event) => {
        const id = event.target?.dataset?.id;
        if (!id) return;
        this.search = id;
        this.searchBox.value = id;
        this.mode = 'table';
        this.draw();
      },
    }, cells);
  }

  table(rows) {
    const name = this.fleet.name;
    const header = ['Instance', 'Lifecycle', 'State', 'Reported', 'Target', 'Attempt', 'Last error', 'Since (UTC)', ''];
    return h('table', { class: 'list hosts-table' },
      h('thead', {}, h('tr', {}, header.map((t) => h('th', { text: t })))),
      h('tbody', {}, rows.map((row) => h('tr', { 'data-id': row[ID], class: `b-${row[BUCKET]}-row` },
        h('td', { class: 'id', text: row[ID] }), h('td', { text: row[LIFECYCLE] }),
        h('td', {}, h('span', { class: `dot b-${row[BUCKET]}` }), row[STATE]),
        h('td', { class: 'rev', text: text(row[REPORTED]) }), h('td', { class: 'rev', text: text(row[TARGET]) }),
        h('td', { class: 'num', text: row[ATTEMPT] }), h('td', { class: row[ERROR] ? 'error' : '', text: text(row[ERROR]) }),
        h('td', { class: 'time', text: utc(row[SINCE]) }),
        h('td', {}, row[BUCKET] === 'failed' ? command(`${this.cli} retry ${name} ${row[ID]}`) : null)))));
  }
}
