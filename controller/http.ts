/**
 * The controller's HTTP endpoints: /healthz (the loop turns), /readyz (the store answers; leading or a ready
 * standby), /metrics (Prometheus text), /status (the FleetList of `fleetsync status --output json`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Clock } from './ports/clock.ts';
import type { Store } from './ports/store.ts';
import type { Logger } from './log.ts';
import { fleetList } from './status/fleetDocument.ts';

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
}

export interface HttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const cancel = clock.setTimer(ms, () => reject(new Error(`${what} did not answer within ${ms} ms`)));
    work.then((v) => { cancel(); resolve(v); }, (e: unknown) => { cancel(); reject(e as Error); });
  });
}

export async function startHttpServer(o: HttpServerOptions): Promise<HttpServer> {
  const storeTimeoutMs = o.storeTimeoutMs ?? 2_000;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
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
      default:
        send(res, 404, { error: `no ${path}: try /healthz, /readyz, /metrics or /status` });
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
