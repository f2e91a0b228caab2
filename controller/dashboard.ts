/**
 * The read-only dashboard on the controller's HTTP port: the page (web/index.html for / and /fleets/<name>),
 * its static files (web/*, read once at start: no path from a request ever reaches the file system), and the
 * compact JSON it polls. The page is plain ES modules and CSS: no build step, nothing from another origin.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Store } from './ports/store.ts';
import { fleetDetail, fleetSummaries } from './status/dashboardView.ts';
import { PATTERNS } from '../state/validate.ts';

export const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface Asset {
  type: string;
  body: Buffer;
}

export type DashboardAnswer =
  | { kind: 'asset'; asset: Asset }
  | { kind: 'json'; code: number; body: unknown };

export interface Dashboard {
  /** What to answer for a GET of `urlPath`, or null when the path is not the dashboard's. */
  answer(urlPath: string): Promise<DashboardAnswer | null>;
}

/** Reads web/ once: the page and its files are served from memory under /assets/<name>. */
export async function loadAssets(dir = WEB_DIR): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const name of await readdir(dir)) {
    const type = TYPES[path.extname(name)];
    if (type) assets.set(name, { type, body: await readFile(path.join(dir, name)) });
  }
  if (!assets.has('index.html')) throw new Error(`${dir} has no index.html: the dashboard's files are missing from this install`);
  return assets;
}

/**
 * Every open page polls once a second, and each poll reads every host item of a fleet: answers are shared for
 * this long, so ten open tabs cost the store what one does (in AWS mode, reads are billed).
 */
export const SHARED_ANSWER_MS = 900;

export function createDashboard(o: {
  store: Store;
  assets: Map<string, Asset>;
  /** how the operator runs the CLI against this controller's store, shown before each command to copy */
  cliPrefix: string;
  /** the clock's time, for sharing answers (the page learns the server's time from the Date header, so the
   *  bodies carry none and an unchanged fleet answers 304) */
  nowMs: () => number;
}): Dashboard {
  const page = o.assets.get('index.html') as Asset;
  const recent = new Map<string, { atMs: number; answer: Promise<DashboardAnswer | null> }>();
  const shared = (key: string, read: () => Promise<DashboardAnswer | null>): Promise<DashboardAnswer | null> => {
    const nowMs = o.nowMs();
    const hit = recent.get(key);
    if (hit && nowMs - hit.atMs < SHARED_ANSWER_MS) return hit.answer;
    for (const [k, v] of recent) if (nowMs - v.atMs >= SHARED_ANSWER_MS) recent.delete(k);
    const answer = read();
    recent.set(key, { atMs: nowMs, answer });
    // a failed read is not shared: the next poll tries again
    void answer.catch(() => recent.delete(key));
    return answer;
  };
  return {
    answer(urlPath) {
      if (urlPath.startsWith('/api/')) return shared(urlPath, () => api(urlPath));
      return Promise.resolve(staticAnswer(urlPath));
    },
  };

  function staticAnswer(urlPath: string): DashboardAnswer | null {
    if (urlPath === '/' || /^\/fleets\/[^/]+$/.test(urlPath)) return { kind: 'asset', asset: page };
    if (urlPath.startsWith('/assets/')) {
      const asset = o.assets.get(urlPath.slice('/assets/'.length));
      return asset ? { kind: 'asset', asset } : { kind: 'json', code: 404, body: { error: `no ${urlPath}` } };
    }
    return null;
  }

  async function api(urlPath: string): Promise<DashboardAnswer | null> {
    if (urlPath === '/api/fleets') {
      const { fleets, errors } = await fleetSummaries(o.store);
      return { kind: 'json', code: 200, body: { cli: o.cliPrefix, fleets, errors } };
    }
    const one = /^\/api\/fleets\/([^/]+)$/.exec(urlPath);
    if (one) {
      const name = one[1] as string;
      // a fleet name is plain ASCII: anything escaped or odd is not one (and never reaches the store)
      if (!PATTERNS.fleetName.test(name)) return { kind: 'json', code: 400, body: { error: `${JSON.stringify(name)} is not a fleet name` } };
      const fleet = await fleetDetail(o.store, name);
      if (!fleet) return { kind: 'json', code: 404, body: { error: `no fleet ${name}` } };
      return { kind: 'json', code: 200, body: { cli: o.cliPrefix, fleet } };
    }
    return null;
  }
}
