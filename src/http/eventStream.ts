import { Readable } from 'node:stream';
import type { StoredAuditEvent } from '../domain/api';
import type { AuditStore } from '../store/auditStore';
import type { CommitSignal } from '../store/commitSignal';

export interface StreamOptions {
  /** A comment line this often while no event is sent. */
  heartbeatMs: number;
  /** How often a caught-up stream looks for other instances' commits. */
  pollMs: number;
  /** A consumer that takes nothing for this long while events wait is disconnected. */
  stallMs: number;
}

// Events read per query: one batch is what a stream holds beyond its buffer.
const BATCH_EVENTS = 200;
// Unsent bytes a stream buffers before it stops reading from the database.
const HIGH_WATER_MARK_BYTES = 256 * 1024;

const TOO_SLOW = ': disconnected: consumer too slow; reconnect with Last-Event-ID\n\n';
const SHUTTING_DOWN = ': disconnected: server shutting down; reconnect with Last-Event-ID\n\n';

export function sseMessage(event: StoredAuditEvent): string {
  // JSON.stringify escapes CR and LF, so the data is one SSE line.
  return `id: ${event.seq}\nevent: audit\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The open Server-Sent Event streams of this instance. */
export class EventStreams {
  private readonly open = new Set<EventStream>();

  constructor(
    private readonly store: Pick<AuditStore, 'eventsAfterSeq'>,
    private readonly signal: CommitSignal,
    private readonly options: StreamOptions,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * A stream of the tenant's events after `afterSeq`. The first batch is read before this
   * resolves, so a database that cannot answer fails the request (503) before it starts.
   */
  async start(imsOrgId: string, afterSeq: number): Promise<Readable> {
    const first = await this.store.eventsAfterSeq(imsOrgId, afterSeq, BATCH_EVENTS);
    const stream = new EventStream(imsOrgId, afterSeq, first, this.store, this.signal, this.options, () =>
      this.open.delete(stream),
    );
    this.open.add(stream);
    return stream;
  }

  /**
   * Ends every stream with a comment saying why (graceful shutdown: the server waits for them),
   * and resolves when none is reading any more, so the database can close under no query.
   */
  async closeAll(): Promise<void> {
    const streams = [...this.open];
    for (const stream of streams) stream.finish(SHUTTING_DOWN);
    await Promise.all(streams.map((stream) => stream.idle()));
  }
}

/**
 * One consumer's stream. It reads the next batch only when the consumer has taken the last
 * one (Readable's pull), so memory stays bounded by the buffer plus one batch whatever the
 * consumer's speed; while caught up it waits for a commit signal or the poll timer.
 */
class EventStream extends Readable {
  private cursor: number;
  private pending: StoredAuditEvent[] | undefined;
  private reading: Promise<void> | undefined;
  private finished = false;
  private wake: (() => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private stallTimer: NodeJS.Timeout | undefined;
  private lastSent = Date.now();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly imsOrgId: string,
    afterSeq: number,
    first: StoredAuditEvent[],
    private readonly store: Pick<AuditStore, 'eventsAfterSeq'>,
    signal: CommitSignal,
    private readonly options: StreamOptions,
    private readonly onClose: () => void,
  ) {
    super({ highWaterMark: HIGH_WATER_MARK_BYTES });
    this.cursor = afterSeq;
    this.pending = first;
    this.unsubscribe = signal.subscribe(imsOrgId, () => this.wake?.());
    this.timers.push(
      setInterval(() => this.heartbeat(), Math.min(options.heartbeatMs, 1000)),
      setInterval(() => this.wake?.(), options.pollMs),
    );
    this.push('retry: 1000\n\n');
  }

  override _read(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.reading) return;
    const run = this.pump();
    this.reading = run;
    // Cleared once the run ends, also when it ended before the assignment above.
    void run.finally(() => {
      if (this.reading === run) this.reading = undefined;
    });
  }

  /** Resolves when no read from the database is in flight. */
  async idle(): Promise<void> {
    await this.reading;
  }

  private async pump(): Promise<void> {
    try {
      while (!this.finished) {
        const events = this.pending ?? (await this.store.eventsAfterSeq(this.imsOrgId, this.cursor, BATCH_EVENTS));
        this.pending = undefined;
        if (this.finished) return;
        if (events.length === 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        this.cursor = events.at(-1)!.seq;
        this.lastSent = Date.now();
        if (!this.push(events.map(sseMessage).join(''))) {
          // The consumer is behind: wait for it to take what is buffered (_read), or cut it off.
          this.stallTimer = setTimeout(() => this.finish(TOO_SLOW), this.options.stallMs);
          return;
        }
      }
    } catch (error) {
      // A database fault: end the connection unfinished; the consumer resumes with Last-Event-ID.
      this.destroy(error as Error);
    }
  }

  private heartbeat(): void {
    if (this.finished || Date.now() - this.lastSent < this.options.heartbeatMs) return;
    this.lastSent = Date.now();
    // A consumer with events still buffered has something to read already.
    if (this.readableLength === 0) this.push(': heartbeat\n\n');
  }

  /** Ends the stream after what is buffered, with a last comment. */
  finish(comment: string): void {
    if (this.finished) return;
    this.finished = true;
    this.stop();
    this.push(comment);
    this.push(null);
  }

  private stop(): void {
    this.finished = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.stallTimer);
    this.unsubscribe();
    this.wake?.();
    this.onClose();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stop();
    callback(error);
  }
}
