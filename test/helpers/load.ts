import { randomUUID } from 'node:crypto';
import { sampleEvent } from './service';

export interface LoadOptions {
  /** The service's base URL; a function when it changes (e.g. two instances, or a restart). */
  url: string | (() => string);
  headers: Record<string, string>;
  /** Tenants the events are spread over. */
  orgs: string[];
  /** Requests in flight at once. */
  concurrency: number;
  /** Largest batch sent to POST /audits/batch; half the requests are batches of 2..this. */
  maxBatch?: number;
  /** Keep every outcome and acknowledged id (tests), or only counts (a long soak). Default true. */
  keep?: boolean;
}

/** What one request got: its HTTP status, or the network error's code when there was no response. */
export interface Outcome {
  status: number | string;
  ms: number;
  /** When it was answered, ms since the load started. */
  at: number;
  body?: unknown;
  retryAfter?: string | null;
}

/**
 * Concurrent writers posting single events and batches, a third of them with an
 * Idempotency-Key, over several tenants. Keeps every acknowledged id (with its tenant) and
 * every outcome, so a test can check that what was acknowledged is exactly what is stored.
 */
export class Load {
  /** Acknowledged event id → its imsOrgId (when `keep`). */
  readonly acked = new Map<string, string>();
  /** Every answer, in order (when `keep`). */
  readonly outcomes: Outcome[] = [];
  /** Answers by status (or network error code), and acknowledged events: always counted. */
  readonly counts: Record<string, number> = {};
  ackedEvents = 0;
  answered = 0;
  private readonly started = Date.now();
  private running = true;
  private readonly workers: Promise<void>[];
  private counter = 0;

  private readonly keep: boolean;

  constructor(private readonly options: LoadOptions) {
    this.keep = options.keep ?? true;
    this.workers = Array.from({ length: options.concurrency }, () => this.work());
  }

  /** Milliseconds since the load started: the clock of `Outcome.at`. */
  elapsed(): number {
    return Date.now() - this.started;
  }

  /** Outcomes by status (or network error code): all of them, or the given ones. */
  histogram(outcomes?: Outcome[]): Record<string, number> {
    if (!outcomes) return { ...this.counts };
    const counts: Record<string, number> = {};
    for (const { status } of outcomes) counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  }

  /** Waits for at least n more answered requests (or fails after timeoutMs). */
  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    const target = this.answered + n;
    const deadline = Date.now() + timeoutMs;
    while (this.answered < target) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.answered - target + n} of ${n} requests answered in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    const { orgs, maxBatch = 20 } = this.options;
    while (this.running) {
      const n = this.counter++;
      const org = orgs[n % orgs.length];
      const batch = n % 2 === 1;
      const events = Array.from({ length: batch ? 2 + (n % (maxBatch - 1)) : 1 }, (_, i) =>
        sampleEvent({ imsOrgId: batch && i % 2 ? orgs[(n + 1) % orgs.length] : org, action: `load-${n}-${i}` }),
      );
      const headers: Record<string, string> = { ...this.options.headers, 'content-type': 'application/json' };
      if (n % 3 === 0) headers['idempotency-key'] = randomUUID();
      await this.send(batch ? '/audits/batch' : '/audits', batch ? events : events[0], headers, events);
    }
  }

  private async send(path: string, body: unknown, headers: Record<string, string>, events: { imsOrgId: string }[]) {
    const url = typeof this.options.url === 'function' ? this.options.url() : this.options.url;
    const start = Date.now();
    const outcome: Outcome = { status: 0, ms: 0, at: 0 };
    try {
      const res = await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body) });
      outcome.status = res.status;
      outcome.retryAfter = res.headers.get('retry-after');
      outcome.body = await res.json();
      if (res.status === 201) {
        const ids = path.endsWith('batch') ? (outcome.body as { ids: string[] }).ids : [outcome.body as string];
        this.ackedEvents += ids.length;
        if (this.keep) ids.forEach((id, i) => this.acked.set(id, events[i].imsOrgId));
      }
    } catch (error) {
      // No response at all: the connection was refused or reset (a crash, a shutdown).
      const cause = (error as { cause?: { code?: string } }).cause;
      outcome.status = cause?.code ?? (error as Error).name;
    }
    outcome.ms = Date.now() - start;
    outcome.at = Date.now() - this.started;
    this.counts[outcome.status] = (this.counts[outcome.status] ?? 0) + 1;
    this.answered += 1;
    if (this.keep) this.outcomes.push(outcome);
    // A refused connection fails at once: do not spin while the server is down.
    if (typeof outcome.status === 'string') await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
