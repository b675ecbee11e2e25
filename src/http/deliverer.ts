import { randomUUID } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { StoredAuditEvent } from '../domain/api';
import { EVENT_MAPPINGS } from '../domain/formats';
import { parseRetryAfter, retryDelayMs, signWebhook, webhookId, webhookUrlProblem } from '../domain/webhooks';
import type { AuditStore } from '../store/auditStore';
import type { CommitSignal } from '../store/commitSignal';
import type { AttemptOutcome, DueSubscription, SubscriptionStore } from '../store/subscriptions';

/** The WEBHOOK_* settings, and how many subscriptions this instance delivers at once, at most. */
export type DelivererOptions = Config['webhooks'] & { concurrency: number };

// How long a commit's wake-up waits, so that the events of several commits go in one request.
const KICK_DELAY_MS = 250;
// A receiver's answer is read only this far (enough for an error message), then dropped.
const RESPONSE_LIMIT_BYTES = 4096;

const CONTENT_TYPES = {
  json: 'application/json',
  cloudevents: 'application/cloudevents-batch+json',
  ocsf: 'application/json',
} as const;

/**
 * Pushes each subscription's events to its URL, one batch at a time, in seq order, signed
 * (Standard Webhooks). The cursor moves only on a 2xx, so nothing is skipped; one instance at
 * a time delivers a subscription, by a lease on its row (SubscriptionStore.claimDue).
 */
export class Deliverer {
  /** This instance, as a lease holder. */
  readonly owner = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private kickTimer: NodeJS.Timeout | undefined;
  // Requests under way, cut off at shutdown (a slow receiver must not hold the process up).
  private readonly inFlight = new Set<ClientRequest>();
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly subscriptions: SubscriptionStore,
    private readonly events: Pick<AuditStore, 'eventsAfterSeq'>,
    signal: CommitSignal,
    private readonly options: DelivererOptions,
    private readonly logger: Logger,
  ) {
    // This instance's commits are delivered without waiting for the poll.
    this.unsubscribe = signal.subscribeAll(() => this.kick());
  }

  start(): void {
    this.timer = setInterval(() => this.runRound(), this.options.pollMs);
    this.runRound();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.kickTimer);
    this.unsubscribe();
    for (const request of this.inFlight) request.destroy(new Error('the service is shutting down'));
    await this.running;
    await this.subscriptions
      .releaseAll(this.owner)
      .catch((error: unknown) => this.logger.warn({ err: error }, 'could not give up webhook leases'));
  }

  /**
   * A round soon: commits come in bursts, and waiting KICK_DELAY_MS lets a batch fill, so a
   * busy tenant costs a few requests a second rather than one per commit (ingest stays fast).
   */
  kick(): void {
    if (this.stopped || this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      this.runRound();
    }, KICK_DELAY_MS);
  }

  /** Runs a round now, or right after the one in progress. */
  private runRound(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'webhook delivery round failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.runRound();
        }
      });
  }

  private async round(): Promise<void> {
    const { leaseMs, requestTimeoutMs, concurrency } = this.options;
    // Enough lease left for a request that runs to its timeout, and the recording after it.
    const due = await this.subscriptions.claimDue(this.owner, leaseMs, requestTimeoutMs + 1000, concurrency);
    const more = await Promise.all(due.map((subscription) => this.deliver(subscription)));
    // A full batch delivered: more may be waiting, so go on at once.
    if (more.includes(true)) this.again = true;
  }

  /**
   * One attempt: the pending batch (or the next one), sent once, and its outcome recorded.
   * Answers whether it delivered a full batch (so more may be waiting).
   */
  private async deliver(subscription: DueSubscription): Promise<boolean> {
    const { batchEvents, leaseMs } = this.options;
    const limit =
      subscription.batchEndSeq === undefined
        ? batchEvents
        : Math.max(1, subscription.batchEndSeq - subscription.lastDeliveredSeq);
    const batch = await this.events.eventsAfterSeq(subscription.imsOrgId, subscription.lastDeliveredSeq, limit);
    // Nothing new: it stays due, and leased to this instance, for the next poll or commit.
    if (batch.length === 0) return false;
    const outcome = await this.send(subscription, batch);
    await this.subscriptions.record(this.owner, subscription, outcome, leaseMs);
    return outcome.ok && batch.length === batchEvents;
  }

  private async send(subscription: DueSubscription, batch: StoredAuditEvent[]): Promise<AttemptOutcome> {
    const first = batch[0].seq;
    const last = batch.at(-1)!.seq;
    const fail = (error: string, retryAfterMs?: number): AttemptOutcome => {
      const now = Date.now();
      const failingSince = subscription.failingSince ?? now;
      const failing = now - failingSince >= this.options.failingAfterMs;
      const { backoffMinMs: minMs, backoffMaxMs: maxMs } = this.options;
      // Failing: the longest interval, as documented; before that, exponential backoff.
      const delay = failing
        ? retryDelayMs(64, { minMs, maxMs }, retryAfterMs)
        : retryDelayMs(subscription.attempts + 1, { minMs, maxMs }, retryAfterMs);
      return { ok: false, batchEndSeq: last, error, nextAttemptAt: now + delay, failing, failingSince };
    };
    // The allow list may have changed since the subscription was made.
    const problem = webhookUrlProblem(subscription.url, this.options.allowedHosts, this.options.allowLoopback);
    if (problem) return fail(problem);
    const body = JSON.stringify(batch.map(EVENT_MAPPINGS[subscription.format]));
    const id = webhookId(subscription.id, first, last);
    const headers = {
      'content-type': CONTENT_TYPES[subscription.format],
      'user-agent': 'audit-service-webhooks',
      ...signWebhook(subscription.secret, id, Math.floor(Date.now() / 1000), body),
    };
    try {
      const { status, retryAfter } = await post(
        subscription.url,
        headers,
        body,
        this.options.requestTimeoutMs,
        this.inFlight,
      );
      if (status >= 200 && status < 300) return { ok: true, lastSeq: last };
      if (status >= 300 && status < 400) return fail(`HTTP ${status}: redirects are not followed`);
      return fail(`HTTP ${status}`, parseRetryAfter(retryAfter ?? null));
    } catch (error) {
      if (error instanceof RequestTimeoutError) return fail(`no answer within ${this.options.requestTimeoutMs} ms`);
      return fail(`request failed: ${(error as { code?: string }).code ?? (error as Error).name}`);
    }
  }
}

class RequestTimeoutError extends Error {}

/**
 * POSTs the body and resolves with the answer's status once at most RESPONSE_LIMIT_BYTES of it
 * are read. node:http rather than fetch: a quarter of the CPU per request (measured), which
 * ingest on the same process feels; it never follows redirects. The timeout covers the whole
 * exchange.
 */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  inFlight: Set<ClientRequest>,
): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const request = send(url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } });
    inFlight.add(request);
    request.on('close', () => inFlight.delete(request));
    const timer = setTimeout(() => request.destroy(new RequestTimeoutError()), timeoutMs);
    // on, not once: a second error (after a timeout's destroy) must not go unhandled.
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.once('response', (response: IncomingMessage) => {
      let read = 0;
      const done = (cut: boolean) => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] });
        // The rest of a long answer is dropped with the connection.
        if (cut) request.destroy();
      };
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= RESPONSE_LIMIT_BYTES) done(true);
      });
      response.once('end', () => done(false));
      response.on('error', () => done(true));
    });
    request.end(body);
  });
}
