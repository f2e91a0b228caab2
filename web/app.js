/** The dashboard: / lists the fleets, /fleets/<name> shows one; both follow the controller live. */
import { startPolling } from './poll.js';
import { FleetsPage } from './fleets.js';
import { FleetPage } from './fleet.js';
import { fill, h } from './dom.js';

const main = document.getElementById('main');
const route = /^\/fleets\/([^/]+)$/.exec(location.pathname);
if (route && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(route[1])) {
  // the server answers this page for any /fleets/<x>; a name that cannot be a fleet is said so, not fetched
  let shown = route[1];
  try {
    shown = decodeURIComponent(shown);
  } catch {
    // a malformed escape: shown as typed
  }
  fill(main, h('p', { class: 'error', text: `${shown} is not a fleet name (lower-case letters, digits and -).` }),
    h('p', {}, h('a', { href: '/', text: 'all fleets' })));
} else if (route) {
  const page = new FleetPage(main, route[1]);
  document.title = `${route[1]} · fleetsync`;
  startPolling({ url: `/api/fleets/${route[1]}`, onData: (data, error, nowMs) => page.update(data, error, nowMs) });
} else {
  const page = new FleetsPage(main);
  startPolling({ url: '/api/fleets', onData: (data, error) => page.update(data, error) });
}
