import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { SqliteFile } from './sqliteConnection';
import type { StretchReply, StretchRequest } from './sqliteVerifyThread';
import { startStoreThread } from './threads';

/** Events per stretch a thread checks in one step: about 20–40 ms of its time, 64 kB of leaf hashes. */
const STRETCH = 2048;

/** Part of a tenant's log as a verify thread checked it: its leaf hashes, or none if any row did not check out. */
export interface Stretch {
  from: number;
  to: number;
  leaves?: Uint8Array;
  /** How many of its events erasure took personal data from. */
  erasedEvents: number;
}

export interface VerifierOptions {
  threads?: number;
  /** Walks shorter than this stay on the main thread, where they take less than the threads' round trips. */
  minEvents?: number;
}

/**
 * The SQLite verify threads (sqliteVerifyThread.ts), started when a long verification first needs
 * them. They only speed a walk up: a stretch that does not check out, or a thread that fails,
 * is walked again by the main thread, which finds and names what is wrong (LogStore.verify).
 */
export class SqliteVerifiers {
  readonly minEvents: number;
  private readonly threads: number;
  private workers: Worker[] = [];
  private readonly pending = new Map<number, (reply: Omit<StretchReply, 'id'>) => void>();
  private nextId = 0;

  constructor(
    private readonly file: SqliteFile,
    { threads = Math.min(4, availableParallelism()), minEvents = 4 * STRETCH }: VerifierOptions = {},
  ) {
    this.threads = Math.max(1, threads);
    this.minEvents = minEvents;
  }

  /** The tenant's events from..to, checked stretch by stretch, in order. */
  async *stretches(imsOrgId: string, from: number, to: number): AsyncGenerator<Stretch> {
    const ahead: Promise<Stretch>[] = [];
    let next = from;
    const request = () => {
      const stretch = { from: next, to: Math.min(to, next + STRETCH - 1) };
      next = stretch.to + 1;
      ahead.push(this.check(imsOrgId, stretch.from, stretch.to).then((reply) => ({ ...stretch, ...reply })));
    };
    // Two stretches per thread in flight: each thread has the next one queued when it finishes one.
    while (next <= to && ahead.length < 2 * this.threads) request();
    while (ahead.length > 0) {
      const stretch = await ahead.shift()!;
      if (next <= to) request();
      yield stretch;
    }
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(
      workers.map((worker) => {
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        worker.postMessage('close');
        return exited;
      }),
    );
  }

  private check(imsOrgId: string, from: number, to: number): Promise<Omit<StretchReply, 'id'>> {
    if (this.workers.length === 0) this.workers = Array.from({ length: this.threads }, () => this.start());
    const id = this.nextId++;
    const message: StretchRequest = { id, imsOrgId, from, to };
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.workers[id % this.workers.length].postMessage(message);
    });
  }

  private start(): Worker {
    const worker = startStoreThread('sqliteVerifyThread', { workerData: this.file });
    // Idle threads do not keep the process alive; close() ends them.
    worker.unref();
    worker.on('message', ({ id, ...reply }: StretchReply) => {
      const resolve = this.pending.get(id);
      this.pending.delete(id);
      resolve?.(reply);
    });
    // A thread that dies (it should not) leaves its stretches to the main thread; the next verification starts new ones.
    const fail = () => {
      const workers = this.workers;
      if (!workers.includes(worker)) return;
      this.workers = [];
      for (const resolve of this.pending.values()) resolve({ erasedEvents: 0 });
      this.pending.clear();
      for (const other of workers) if (other !== worker) void other.terminate();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    return worker;
  }
}
