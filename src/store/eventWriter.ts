import { UnavailableError } from '../domain/errors';
import type { WriteOutcome, WriteRequest } from '../domain/linking';
import type { Committer } from './committer';
import { StoreUnavailableError } from './errors';

export interface EventWriterOptions {
  /** Events waiting for a commit, at most; past it new writes are refused at once (backpressure). */
  maxQueuedEvents: number;
  /** Events committed in one transaction, at most (a larger single request still commits alone). */
  maxEventsPerCommit: number;
}

/** The write queue is full: the client should retry shortly. */
export class WriteQueueFullError extends UnavailableError {
  constructor(readonly limit: number) {
    super(`the write queue is full (${limit} events); retry shortly`);
  }
}

/**
 * Counters of the commits since the last reset, for `npm run bench` (SIGUSR2 in main.ts logs
 * them): a few additions per group, nothing per event. `threadMs` and `commitMs` are the SQLite
 * commit thread's time in a group and in its COMMIT (the fsync); 0 on PostgreSQL.
 */
export interface CommitStats {
  groups: number;
  events: number;
  /** From handing a group to the committer to its outcomes, summed over groups. */
  roundTripMs: number;
  threadMs: number;
  commitMs: number;
  /** The SQLite commit thread's Linux thread id, once known. */
  writerTid?: number;
}

export const noCommitStats = (): CommitStats => ({ groups: 0, events: 0, roundTripMs: 0, threadMs: 0, commitMs: 0 });

interface Pending {
  request: WriteRequest;
  resolve(outcome: WriteOutcome): void;
  reject(error: unknown): void;
}

/**
 * Group commit. Requests that arrive while a transaction is committing wait in a bounded
 * queue and go into the next transaction together, so one fsync serves many requests and
 * a lone request is never delayed by a timer. Every request is answered only after its
 * transaction commits.
 */
export class EventWriter {
  private readonly queue: Pending[] = [];
  private queuedEvents = 0;
  private flushing: Promise<void> | undefined;
  /** Groups committed since the last reset (failed ones are not counted); see CommitStats. */
  stats = noCommitStats();

  constructor(
    private readonly store: Pick<Committer, 'commit'>,
    private readonly options: EventWriterOptions,
  ) {}

  /** Events waiting for their commit (for metrics and backpressure). */
  get depth(): number {
    return this.queuedEvents;
  }

  write(request: WriteRequest): Promise<WriteOutcome> {
    const size = request.events.length;
    // An empty queue always admits one request, however large, so no valid request starves.
    if (this.queuedEvents > 0 && this.queuedEvents + size > this.options.maxQueuedEvents) {
      return Promise.reject(new WriteQueueFullError(this.options.maxQueuedEvents));
    }
    this.queuedEvents += size;
    const outcome = new Promise<WriteOutcome>((resolve, reject) => this.queue.push({ request, resolve, reject }));
    this.startFlushing();
    return outcome;
  }

  /**
   * One transaction at a time: the next group forms while this one commits. (Two in flight
   * measured slower on PostgreSQL, smaller groups for the same chain head, and only 3-5%
   * faster on SQLite, whose commit thread runs them in turn anyway.)
   */
  private startFlushing(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      // A write that came in while the loop was finishing found it still running.
      if (this.queue.length > 0) this.startFlushing();
    });
  }

  /** Resolves once every request written so far is committed or failed (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    for (;;) {
      // Let requests that are already arriving (their I/O callbacks are queued) join this
      // group, rather than commit only those queued before the previous commit ended.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.queue.length === 0) return;
      const group = this.takeGroup();
      const started = performance.now();
      try {
        const outcomes = await this.store.commit(group.map((p) => p.request));
        this.count(group, started);
        group.forEach((pending, i) => pending.resolve(outcomes[i]));
      } catch (error) {
        if (error instanceof StoreUnavailableError) {
          // The database is down or stalled: requests queued behind this group would each
          // wait out another timeout before failing too, so they fail now and their clients
          // retry. The next request to arrive tries the database again.
          const waiting = this.queue.splice(0);
          for (const pending of waiting) this.queuedEvents -= pending.request.events.length;
          for (const pending of [...group, ...waiting]) pending.reject(error);
        } else {
          // Something in the group was refused, e.g. another instance committed the same
          // idempotency key first: commit one by one (a lone request: once more), so the
          // retry replays that key and only a request that fails on its own fails.
          for (const pending of group) {
            await this.store.commit([pending.request]).then(
              (outcomes) => pending.resolve(outcomes[0]),
              (error: unknown) => pending.reject(error),
            );
          }
        }
      } finally {
        for (const pending of group) this.queuedEvents -= pending.request.events.length;
      }
    }
  }

  private count(group: Pending[], started: number): void {
    this.stats.groups += 1;
    for (const pending of group) this.stats.events += pending.request.events.length;
    this.stats.roundTripMs += performance.now() - started;
  }

  private takeGroup(): Pending[] {
    let events = 0;
    let count = 0;
    while (count < this.queue.length) {
      const size = this.queue[count].request.events.length;
      if (count > 0 && events + size > this.options.maxEventsPerCommit) break;
      events += size;
      count += 1;
    }
    return this.queue.splice(0, count);
  }
}
