import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { StoredAuditEvent } from '../domain/api';
import { EVENT_MAPPINGS } from '../domain/formats';
import { parseRetryAfter, retryDelayMs, signWebhook, webhookId, webhookUrlProblem } from '../domain/webhooks';
import type { AuditStore } from '../store/auditStore';
import type { CommitSignal } from '../store/commitSignal';
import type { AttemptOutcome, DueSubscription, SubscriptionStore } from '../store/subscriptions';

export interface DelivererOptions {
  /** Events per request, at most. */
  batchEvents: number;
  /** How often due subscriptions are looked for (other instances' commits, retries). */
  pollMs: number;
  requestTimeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  failingAfterMs: number;
  leaseMs: number;
  /** Subscriptions delivered at once by this instance, at most. */
  concurrency: number;
  allowedHosts: readonly string[];
  allowLoopback: boolean;
}

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
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe();
    await this.running;
  }

  /** Runs a round now, or right after the one in progress. */
  kick(): void {
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
          this.kick();
        }
      });
  }

  private async round(): Promise<void> {
    const due = await this.subscriptions.claimDue(this.owner, this.options.leaseMs, this.options.concurrency);
    await Promise.all(due.map((subscription) => this.deliver(subscription)));
    // A subscription with more events waiting is due again at once.
    if (due.length > 0) this.again = true;
  }

  /** One attempt: the pending batch (or the next one), sent once, and its outcome recorded. */
  private async deliver(subscription: DueSubscription): Promise<void> {
    const { batchEvents, leaseMs } = this.options;
    const limit =
      subscription.batchEndSeq === undefined
        ? batchEvents
        : Math.max(1, subscription.batchEndSeq - subscription.lastDeliveredSeq);
    const batch = await this.events.eventsAfterSeq(subscription.imsOrgId, subscription.lastDeliveredSeq, limit);
    if (batch.length === 0) {
      // Nothing new: look again at the next poll (or at this instance's next commit).
      await this.subscriptions.release(this.owner, subscription.id, Date.now() + this.options.pollMs);
      return;
    }
    if (!(await this.subscriptions.renew(this.owner, subscription.id, leaseMs))) return;
    const outcome = await this.send(subscription, batch);
    await this.subscriptions.record(this.owner, subscription, outcome);
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
      const response = await fetch(subscription.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
      await drain(response);
      if (response.status >= 200 && response.status < 300) return { ok: true, lastSeq: last };
      if (response.status >= 300 && response.status < 400)
        return fail(`HTTP ${response.status}: redirects are not followed`);
      return fail(`HTTP ${response.status}`, parseRetryAfter(response.headers.get('retry-after')));
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError') return fail(`no answer within ${this.options.requestTimeoutMs} ms`);
      const cause = (error as { cause?: { code?: string } }).cause;
      return fail(`request failed: ${cause?.code ?? name}`);
    }
  }
}

/** Reads at most RESPONSE_LIMIT_BYTES of the answer and drops the rest (the connection may then close). */
async function drain(response: Response): Promise<void> {
  if (!response.body) return;
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  let read = 0;
  try {
    while (read < RESPONSE_LIMIT_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The answer's status is what counts; a body cut off is no failure of the delivery.
  }
}
