/**
 * The controller's HTTP endpoints: /healthz (the loop turns), /readyz (the store answers; leading or a ready
 * standby), /metrics (Prometheus text), /status (the FleetList of `fleetsync status --output json`), and the
 * read-only dashboard at / (controller/dashboard.ts).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Clock } from './ports/clock.ts';
import type { Store } from './ports/store.ts';
import type { Logger } from './log.ts';
import { fleetList } from './status/fleetDocument.ts';
import { createDashboard, loadAssets, type Asset } from './dashboard.ts';

export interface HealthSource {
  /** when the control loop last turned */
  lastLoop(): number;
  /** fleets this process leads */
  leases(): string[];
}

export interface HttpServerOptions {
  host: string;
  port: number;
  store: Store;
  health: HealthSource;
  registry: Registry;
  clock: Clock;
  stuckAfterMs: number;
  /** how long /readyz waits for the store */
  storeTimeoutMs?: number;
  log: Logger;
  /** refreshes gauges computed on demand before /metrics is served */
  beforeMetrics?: () => Promise<void>;
  /** how the operator runs the CLI against this store (the dashboard shows it before each command) */
  cliPrefix?: string;
}

export interface HttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * On every answer, the dashboard's page included: scripts and styles from this origin only (no inline script,
 * nothing from elsewhere), no framing, no type sniffing. The page shows store strings as text, and this is the
 * second wall should one ever reach the DOM as HTML.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    + " base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

function send(res: ServerResponse, code: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

/** JSON the dashboard polls every second: unchanged data answers 304, so the page redraws only on a change. */
function sendPolled(req: IncomingMessage, res: ServerResponse, code: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  const etag = `"${createHash('sha1').update(text).digest('base64url')}"`;
  const headers = { ...SECURITY_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-cache', etag };
  if (code === 200 && req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(code, headers);
  res.end(text);
}

function sendAsset(res: ServerResponse, asset: Asset): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'cache-control': 'no-cache' });
  res.end(asset.body);
}

function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const cancel = clock.setTimer(ms, () => reject(new Error(`${what} did not answer within ${ms} ms`)));
    work.then((v) => { cancel(); resolve(v); }, (e: unknown) => { cancel(); reject(e as Error); });
  });
}

export async function startHttpServer(o: HttpServerOptions): Promise<HttpServer> {
  const storeTimeoutMs = o.storeTimeoutMs ?? 2_000;
  const dashboard = createDashboard({
    store: o.store, assets: await loadAssets(), cliPrefix: o.cliPrefix ?? 'fleetsync', nowMs: () => o.clock.nowMs(),
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'only GET is served' });
      return;
    }
    switch (path) {
      case '/healthz': {
        const sinceMs = o.clock.nowMs() - o.health.lastLoop();
        const ok = sinceMs < o.stuckAfterMs;
        send(res, ok ? 200 : 503, ok ? { status: 'ok', lastLoopMsAgo: sinceMs }
          : { status: 'stuck', lastLoopMsAgo: sinceMs, error: `the control loop has not turned for ${Math.round(sinceMs / 1000)}s` });
        return;
      }
      case '/readyz': {
        try {
          await withTimeout(o.store.listFleets(), storeTimeoutMs, o.clock, 'the store');
        } catch (error) {
          send(res, 503, { status: 'unready', error: `store unreachable: ${(error as Error).message}` });
          return;
        }
        const leading = o.health.leases();
        send(res, 200, { status: 'ready', role: leading.length > 0 ? 'leader' : 'standby', leading });
        return;
      }
      case '/metrics':
        await o.beforeMetrics?.();
        send(res, 200, await o.registry.metrics(), o.registry.contentType);
        return;
      case '/status':
        try {
          send(res, 200, await withTimeout(fleetList(o.store), storeTimeoutMs * 5, o.clock, 'the store'));
        } catch (error) {
          send(res, 503, { error: `cannot read the store: ${(error as Error).message}` });
        }
        return;
      default: {
        let answer;
        try {
          answer = await withTimeout(dashboard.answer(path), storeTimeoutMs * 5, o.clock, 'the store');
        } catch (error) {
          send(res, 503, { error: `cannot read the store: ${(error as Error).message}` });
          return;
        }
        if (!answer) send(res, 404, { error: `no ${path}: try / (the dashboard), /healthz, /readyz, /metrics or /status` });
        else if (answer.kind === 'asset') sendAsset(res, answer.asset);
        else sendPolled(req, res, answer.code, answer.body);
      }
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      o.log.error({ err: error, url: req.url }, 'HTTP handler failed');
      if (!res.headersSent) send(res, 500, { error: (error as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  return {
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
