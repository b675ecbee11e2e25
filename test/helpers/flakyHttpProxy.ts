import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy did to one request. */
export type Fault = 'none' | 'delay' | '503' | 'reset-before' | 'reset-after';

export interface FaultRates {
  /** Answer 503 with `Retry-After: 1` without forwarding. */
  unavailable: number;
  /** Reset the connection before forwarding: the service never sees the request. */
  resetBefore: number;
  /** Forward, let the service answer, then reset instead of passing the answer on: it may have committed. */
  resetAfter: number;
  /** Hold the request 20–300 ms before forwarding. */
  delay: number;
}

export interface ProxiedRequest {
  at: number;
  key: string | undefined;
  fault: Fault;
  /** The service's status, when it was asked. */
  status?: number;
  replayed?: boolean;
  /** When the service's answer was passed on to the client. */
  answeredAt?: number;
}

/** mulberry32: a seeded generator, so a failing run can be repeated. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An HTTP proxy in front of the service that injects 503s, connection resets and delays. */
export async function startFlakyHttpProxy(target: string, rates: FaultRates, seed = 16) {
  const random = seeded(seed);
  const requests: ProxiedRequest[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const pick = (): Fault => {
    let roll = random();
    for (const [fault, rate] of [
      ['503', rates.unavailable],
      ['reset-before', rates.resetBefore],
      ['reset-after', rates.resetAfter],
      ['delay', rates.delay],
    ] as const) {
      if (roll < rate) return fault;
      roll -= rate;
    }
    return 'none';
  };
  const server = http.createServer((req, res) => {
    const record: ProxiedRequest = { at: Date.now(), key: req.headers['idempotency-key'] as string, fault: pick() };
    requests.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (record.fault === '503') {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        return res.end(JSON.stringify({ reason: 'service_unavailable', message: 'injected by the proxy' }));
      }
      if (record.fault === 'reset-before') return req.socket.resetAndDestroy();
      const forward = () => {
        const upstream = http.request(
          `${target}${req.url}`,
          { method: req.method, headers: req.headers, agent },
          (reply) => {
            const body: Buffer[] = [];
            reply.on('data', (chunk: Buffer) => body.push(chunk));
            reply.on('end', () => {
              record.status = reply.statusCode;
              record.replayed = reply.headers['idempotent-replayed'] === 'true';
              if (record.fault === 'reset-after') return req.socket.resetAndDestroy();
              res.writeHead(reply.statusCode!, reply.headers);
              res.end(Buffer.concat(body));
            });
          },
        );
        upstream.on('error', () => req.socket.resetAndDestroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (record.fault === 'delay') setTimeout(forward, 20 + random() * 280);
      else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
