/**
 * Live data: polls a compact JSON endpoint every second (the server answers 304 while nothing changed, so the
 * page redraws only on a change) and says when the data is stale: the controller does not answer, or a
 * status the controller has not refreshed (its observedAt, when the status carries one).
 */
import { fill, h, utc } from './dom.js';

export const POLL_MS = 1000;
/** no answer for this long: the banner says the controller is unreachable */
export const UNREACHABLE_AFTER_MS = 3000;
/** a status the controller has not refreshed for this long (two resyncs of the default 30 s) is stale */
export const STALE_STATUS_MS = 60_000;

export function startPolling({ url, onData }) {
  const banner = document.getElementById('banner');
  const live = document.getElementById('live');
  let etag = null;
  let last = null;
  let lastOkMs = 0;
  let lastError = '';
  let serverNowMs = 0;

  const showStaleness = () => {
    const problems = [];
    const sinceOk = Date.now() - lastOkMs;
    if (lastOkMs === 0 && lastError) problems.push(`The controller at ${location.host} does not answer (${lastError}).`);
    else if (lastOkMs > 0 && sinceOk > UNREACHABLE_AFTER_MS) {
      problems.push(`No fresh data from the controller at ${location.host} for ${Math.round(sinceOk / 1000)} s`
        + `${lastError ? ` (${lastError})` : ''}: what you see is from ${utc(lastOkMs)}.`);
    }
    if (last) {
      const fleets = last.fleet ? [last.fleet] : last.fleets ?? [];
      const stale = fleets.filter((f) => typeof f.observedAtMs === 'number' && serverNowMs - f.observedAtMs > STALE_STATUS_MS);
      for (const f of stale) {
        problems.push(`The status of ${f.name} was last refreshed at ${utc(f.observedAtMs)}`
          + ` (${Math.round((serverNowMs - f.observedAtMs) / 1000)} s ago): is a controller leading this fleet?`);
      }
    }
    banner.hidden = problems.length === 0;
    fill(banner, ...problems.map((p) => h('p', { text: p })));
    live.className = problems.length === 0 ? 'live ok' : 'live stale';
    live.textContent = lastOkMs === 0 ? 'no data yet' : `${problems.length === 0 ? 'live' : 'stale'}, updated ${utc(lastOkMs)}`;
  };

  const tick = async () => {
    try {
      const res = await fetch(url, { cache: 'no-store', headers: etag ? { 'if-none-match': etag } : {} });
      // the server's time (to the second) judges observedAt, whatever this machine's clock says
      const date = Date.parse(res.headers.get('date') ?? '');
      serverNowMs = Number.isNaN(date) ? Date.now() : date;
      if (res.status === 304) {
        lastOkMs = Date.now();
        lastError = '';
      } else if (res.status >= 500) {
        // the controller answers but cannot read its store: keep what is shown, and say so in the banner
        lastError = (await res.json().catch(() => ({}))).error ?? `HTTP ${res.status}`;
      } else {
        const body = await res.json();
        lastOkMs = Date.now();
        if (!res.ok) {
          lastError = '';
          onData(null, body.error ?? `HTTP ${res.status}`, serverNowMs);
        } else {
          etag = res.headers.get('etag');
          last = body;
          lastError = '';
          onData(body, null, serverNowMs);
        }
      }
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    showStaleness();
    setTimeout(() => { void tick(); }, POLL_MS);
  };
  void tick();
}
