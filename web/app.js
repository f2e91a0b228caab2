/** The dashboard: / lists the fleets, /fleets/<name> shows one; both follow the controller live. */
import { startPolling } from './poll.js';
import { FleetsPage } from './fleets.js';
import { FleetPage } from './fleet.js';

const main = document.getElementById('main');
const route = /^\/fleets\/([a-z0-9-]+)$/.exec(location.pathname);
if (route) {
  const page = new FleetPage(main, route[1]);
  document.title = `${route[1]} · fleetsync`;
  startPolling({ url: `/api/fleets/${route[1]}`, onData: (data, error, nowMs) => page.update(data, error, nowMs) });
} else {
  const page = new FleetsPage(main);
  startPolling({ url: '/api/fleets', onData: (data, error) => page.update(data, error) });
}
