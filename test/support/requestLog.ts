/**
 * An HTTP proxy on 127.0.0.1 that forwards to a local server (s3rver) and records every request it served,
 * so a test can count what went over the wire: GETs of objects, PUTs of uploads, response bytes.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  method: string;
  /** the path without the query, decoded */
  path: string;
  query: string;
  status: number;
  requestBytes: number;
  responseBytes: number;
}

export interface RequestLog {
  endpoint: string;
  requests: LoggedRequest[];
  clear(): void;
  stop(): Promise<void>;
}

export async function startRequestLog(target: string): Promise<RequestLog> {
  const to = new URL(target);
  const requests: LoggedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    let requestBytes = 0;
    let responseBytes = 0;
    const upstream = httpRequest({
      host: to.hostname, port: to.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: `${to.hostname}:${to.port}` },
    }, (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.on('data', (chunk: Buffer) => { responseBytes += chunk.length; });
      upstreamRes.pipe(res);
      upstreamRes.on('end', () => {
        requests.push({
          method: req.method ?? '', path: decodeURIComponent(url.pathname), query: url.search,
          status: upstreamRes.statusCode ?? 0, requestBytes, responseBytes,
        });
      });
    });
    upstream.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.on('data', (chunk: Buffer) => { requestBytes += chunk.length; });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    clear: () => { requests.length = 0; },
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
