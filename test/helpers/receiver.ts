import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  headers: IncomingMessage['headers'];
  body: string;
  path: string;
  /** The status the receiver answered. */
  status: number;
}

export type Answer = (
  delivery: Omit<Delivery, 'status'>,
) => { status: number; headers?: Record<string, string>; delayMs?: number } | undefined;

/** A webhook receiver on a loopback port that records every request and answers as `answer` says (200 by default). */
export class Receiver {
  readonly deliveries: Delivery[] = [];
  answer: Answer = () => undefined;
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => this.server!.listen(port, '127.0.0.1', resolve).once('error', reject));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and drops open connections (a receiver going down). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const partial = { headers: req.headers, body, path: req.url ?? '/' };
      const answer = this.answer(partial) ?? { status: 200 };
      const reply = () => {
        this.deliveries.push({ ...partial, status: answer.status });
        if (res.destroyed) return;
        res.writeHead(answer.status, answer.headers);
        res.end('ok');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  }
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
