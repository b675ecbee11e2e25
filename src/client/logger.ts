// The batching audit logger for producers: log() buffers and returns at once; batches go to
// POST /audits/batch, each with an Idempotency-Key that its retries reuse, so a retry after a
// lost answer is replayed by the server instead of stored twice. Only fetch, timers and
// crypto.randomUUID are used, so it runs in Node 20+ and in browsers alike.
import { authorization, type Credentials } from './credentials.js';
import type { components } from './openapi.js';

type AuditEvent = components['schemas']['AuditEvent'];
type ErrorDetail = components['schemas']['ErrorDetail'];
type ErrorResponse = components['schemas']['ErrorResponse'];

/** What log() does when the buffer holds `maxBufferedEvents`. */
export type OverflowPolicy = 'drop-newest' | 'drop-oldest' | 'block';

/** `overflow`: the buffer was full. `closed`: logged after close(), or still undelivered at close()'s deadline. */
export type DropReason = 'overflow' | 'closed';

/** Events that will not be stored, and why. */
export interface AuditFailure {
  /**
   * `rejected`: the server answered with a status that a retry cannot change (400, 401, 403, 413,
   * 422, …); `too_large`: one event alone exceeds `maxBatchBytes`; `unserializable`: JSON.stringify
   * failed; `gave_up`: `retry.maxAttempts` attempts all failed.
   */
  reason: 'rejected' | 'too_large' | 'unserializable' | 'gave_up';
  message: string;
  /** The HTTP status, for `rejected`. */
  status?: number;
  events: AuditEvent[];
  /** For a 400: each problem the server named, with the index in `events` of the event it is about. */
  details?: (ErrorDetail & { index?: number })[];
}

export interface AuditLoggerMetrics {
  /** Events the server acknowledged (201). */
  sent: number;
  /** Events sent again after a network error, a timeout, 429 or 5xx-unavailable (counted once per resend). */
  retried: number;
  /** Events given to onDrop: overflow, or closed. */
  dropped: number;
  /** Events given to onFailure. */
  failed: number;
  /** Events logged and not yet sent, failed or dropped (buffered, in flight, or waiting to enter the buffer). */
  pending: number;
}

export interface AuditLoggerOptions<P extends OverflowPolicy = OverflowPolicy> extends Credentials {
  /** Events per batch, 1–1000 (the spec's limit). Default 100. */
  maxBatchSize?: number;
  /** Bytes of JSON per batch body; the server's default limit is 1 MiB. Default 1,000,000. */
  maxBatchBytes?: number;
  /** The longest an event waits for its batch to fill. Default 200 ms. */
  maxDelayMs?: number;
  /** Events held at most (buffered and in flight). Default 10,000; at least maxBatchSize. */
  maxBufferedEvents?: number;
  /** Default `drop-newest`. With `block`, log() returns a promise that resolves once the event is buffered. */
  overflow?: P;
  onDrop?: (events: AuditEvent[], reason: DropReason) => void;
  onFailure?: (failure: AuditFailure) => void;
  retry?: {
    /** The first backoff's ceiling; each retry doubles it (full jitter: a uniform pick below it). Default 100 ms. */
    baseDelayMs?: number;
    /** The longest wait between attempts, Retry-After included. Default 30 s. */
    maxDelayMs?: number;
    /** Attempts per batch before it fails as `gave_up`. Default unlimited (the buffer's cap bounds memory). */
    maxAttempts?: number;
  };
  /** One attempt's limit; past it the attempt is abandoned and retried with the same key. Default 30 s. */
  requestTimeoutMs?: number;
}

export interface AuditLogger<P extends OverflowPolicy = OverflowPolicy> {
  /** Buffers the event and returns at once; never throws. Problems reach onDrop and onFailure. */
  log(event: AuditEvent): P extends 'block' ? Promise<void> : void;
  /** Resolves once every event logged before the call is sent, failed or dropped. */
  flush(): Promise<void>;
  /**
   * Stops accepting events, sends everything logged, and resolves once all of it is settled.
   * With `timeoutMs`, whatever is still undelivered then is dropped (reason `closed`; an attempt in
   * flight is abandoned, so those events may or may not be stored).
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  metrics(): AuditLoggerMetrics;
}

interface Entry {
  seq: number;
  json: string;
  bytes: number;
  /** When it entered the buffer (Date.now()). */
  at: number;
}

type Outcome =
  | { kind: 'sent' }
  | { kind: 'retry'; retryAfterMs?: number; message: string }
  | { kind: 'rejected'; status: number; body: unknown };

/** Statuses that mean "not now": the server, or a gateway before it, could not take the batch. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const MAX_BATCH_SIZE = 1000;

/** Full-jitter exponential backoff, at least Retry-After, at most maxDelayMs. `attempt` counts from 1. */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  { baseDelayMs, maxDelayMs }: { baseDelayMs: number; maxDelayMs: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.min(maxDelayMs, Math.max(random() * ceiling, retryAfterMs ?? 0));
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 10.2.3), in milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A random UUID; browsers offer randomUUID only in secure contexts (https, localhost), getRandomValues everywhere. */
function idempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code < 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** `body[3].timestamp` is about the batch's fourth event. */
function indexOfPath(path: string | undefined): number | undefined {
  const match = /^body\[(\d+)\]/.exec(path ?? '');
  return match ? Number(match[1]) : undefined;
}

function isErrorResponse(body: unknown): body is ErrorResponse {
  return typeof body === 'object' && body !== null && typeof (body as ErrorResponse).message === 'string';
}

function positive(name: string, value: number, integer = false): number {
  if (!(value > 0) || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a positive ${integer ? 'integer' : 'number'}, not ${value}`);
  }
  return value;
}

/** Retries never keep a Node process alive on the logger's account: close() is what waits for them. */
function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

export function createAuditLogger<P extends OverflowPolicy = 'drop-newest'>(
  options: AuditLoggerOptions<P>,
): AuditLogger<P> {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/audits/batch`;
  const maxBatchSize = positive('maxBatchSize', options.maxBatchSize ?? 100, true);
  if (maxBatchSize > MAX_BATCH_SIZE) throw new RangeError(`maxBatchSize must be at most ${MAX_BATCH_SIZE}`);
  const maxBatchBytes = positive('maxBatchBytes', options.maxBatchBytes ?? 1_000_000, true);
  const maxDelayMs = options.maxDelayMs ?? 200;
  if (!(maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be 0 or more, not ${maxDelayMs}`);
  const maxBuffered = positive('maxBufferedEvents', options.maxBufferedEvents ?? 10_000, true);
  if (maxBuffered < maxBatchSize) throw new RangeError('maxBufferedEvents must be at least maxBatchSize');
  const overflow: OverflowPolicy = options.overflow ?? 'drop-newest';
  const backoff = {
    baseDelayMs: positive('retry.baseDelayMs', options.retry?.baseDelayMs ?? 100),
    maxDelayMs: positive('retry.maxDelayMs', options.retry?.maxDelayMs ?? 30_000),
  };
  const maxAttempts = positive('retry.maxAttempts', options.retry?.maxAttempts ?? Infinity);
  const requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);

  const counts = { sent: 0, retried: 0, dropped: 0, failed: 0 };
  const queue: Entry[] = [];
  let queueBytes = 0;
  let inFlight: Entry[] | undefined;
  /** Under `block`: events waiting for room, in order. */
  const waiting: { entry: Entry; admitted: () => void }[] = [];
  const flushes: { upTo: number; done: () => void }[] = [];
  let nextSeq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  /** Set at close()'s deadline: stop retrying, drop what is left. */
  let abandoned = false;
  let abortAttempt: (() => void) | undefined;
  let wakeBackoff: (() => void) | undefined;

  /** Callbacks run on their own (a throwing or re-entrant callback cannot disturb log()). */
  const notify = (callback: () => void): void =>
    queueMicrotask(() => {
      try {
        callback();
      } catch {
        // The caller's callback failed; auditing must not take the app down with it.
      }
    });
  const parse = (entries: Entry[]): AuditEvent[] => entries.map((entry) => JSON.parse(entry.json) as AuditEvent);
  const drop = (events: AuditEvent[], reason: DropReason): void => {
    counts.dropped += events.length;
    if (options.onDrop) notify(() => options.onDrop!(events, reason));
  };
  const fail = (failure: AuditFailure): void => {
    counts.failed += failure.events.length;
    if (options.onFailure) notify(() => options.onFailure!(failure));
  };

  const held = (): number => queue.length + (inFlight?.length ?? 0);
  const oldestUnsettled = (): number => inFlight?.[0]?.seq ?? queue[0]?.seq ?? waiting[0]?.entry.seq ?? nextSeq;

  function enqueue(entry: Entry): void {
    entry.at = Date.now();
    queue.push(entry);
    queueBytes += entry.bytes;
  }

  /** After events leave: let blocked events in, and resolve the flushes they complete. */
  function settled(): void {
    while (waiting.length > 0 && held() < maxBuffered) {
      const { entry, admitted } = waiting.shift()!;
      enqueue(entry);
      admitted();
    }
    const oldest = oldestUnsettled();
    for (let i = flushes.length - 1; i >= 0; i--) {
      if (flushes[i].upTo <= oldest) flushes.splice(i, 1)[0].done();
    }
    pump();
  }

  function pump(): void {
    if (inFlight || queue.length === 0) return;
    const now = Date.now();
    const full = queue.length >= maxBatchSize || queueBytes + queue.length + 1 >= maxBatchBytes;
    const due = closed || flushes.some((flush) => flush.upTo > queue[0].seq) || now - queue[0].at >= maxDelayMs;
    if (!full && !due) {
      // Not unref'd: a script that logs and ends still gets its last batch sent (once).
      timer ??= setTimeout(
        () => {
          timer = undefined;
          pump();
        },
        queue[0].at + maxDelayMs - now,
      );
      return;
    }
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    let bytes = 2;
    let count = 0;
    while (count < queue.length && count < maxBatchSize) {
      const next = queue[count].bytes + (count > 0 ? 1 : 0);
      if (count > 0 && bytes + next > maxBatchBytes) break;
      bytes += next;
      count++;
    }
    const batch = queue.splice(0, count);
    for (const entry of batch) queueBytes -= entry.bytes;
    inFlight = batch;
    void deliver(batch);
  }

  async function deliver(batch: Entry[]): Promise<void> {
    try {
      await attemptUntilSettled(batch);
    } catch (error) {
      // Nothing in there should throw; if it ever does, the batch is reported, not left in flight.
      fail({ reason: 'gave_up', message: String(error), events: parse(batch) });
    } finally {
      inFlight = undefined;
      settled();
    }
  }

  async function attemptUntilSettled(batch: Entry[]): Promise<void> {
    const body = `[${batch.map((entry) => entry.json).join(',')}]`;
    const key = idempotencyKey();
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptOnce(body, key);
      if (outcome.kind === 'sent') counts.sent += batch.length;
      else if (outcome.kind === 'rejected') fail(rejection(outcome.status, outcome.body, parse(batch)));
      else if (abandoned) drop(parse(batch), 'closed');
      else if (attempt >= maxAttempts) {
        fail({
          reason: 'gave_up',
          message: `${attempt} attempts failed; the last: ${outcome.message}`,
          events: parse(batch),
        });
      } else {
        await backoffFor(retryDelay(attempt, outcome.retryAfterMs, backoff));
        if (!abandoned) {
          counts.retried += batch.length;
          continue;
        }
        drop(parse(batch), 'closed');
      }
      return;
    }
  }

  async function attemptOnce(body: string, key: string): Promise<Outcome> {
    const controller = new AbortController();
    abortAttempt = () => controller.abort();
    const deadline = unref(setTimeout(() => controller.abort(), requestTimeoutMs));
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': options.apiKey,
          authorization: await authorization(options.token),
          'idempotency-key': key,
        },
        body,
        signal: controller.signal,
      });
      const text = await response.text();
      if (response.status === 201) return { kind: 'sent' };
      if (RETRY_STATUSES.has(response.status)) {
        return {
          kind: 'retry',
          retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
          message: `HTTP ${response.status}`,
        };
      }
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (a gateway's page): the text itself is the message.
      }
      return { kind: 'rejected', status: response.status, body: parsed };
    } catch (error) {
      // A network error, a timeout, or a token function that failed: all worth another try.
      return { kind: 'retry', message: controller.signal.aborted ? 'timed out' : String(error) };
    } finally {
      clearTimeout(deadline);
      abortAttempt = undefined;
    }
  }

  function backoffFor(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const sleeping = unref(setTimeout(resolve, ms));
      wakeBackoff = () => {
        clearTimeout(sleeping);
        resolve();
      };
    }).finally(() => {
      wakeBackoff = undefined;
    });
  }

  function rejection(status: number, body: unknown, events: AuditEvent[]): AuditFailure {
    const error = isErrorResponse(body) ? body : undefined;
    const message = error?.message ?? (typeof body === 'string' && body !== '' ? body : `HTTP ${status}`);
    const details = error?.details?.map((detail) => ({ ...detail, index: indexOfPath(detail.path) }));
    return { reason: 'rejected', status, message, events, ...(details ? { details } : {}) };
  }

  /** Under `block`, the promise for an event that has to wait for room. */
  function accept(event: AuditEvent): Promise<void> | undefined {
    try {
      if (closed) {
        drop([event], 'closed');
        return;
      }
      let json: string | undefined;
      try {
        json = JSON.stringify(event);
      } catch (error) {
        fail({ reason: 'unserializable', message: String(error), events: [event] });
        return;
      }
      if (typeof json !== 'string') {
        fail({ reason: 'unserializable', message: 'the event is not a JSON value', events: [event] });
        return;
      }
      const bytes = utf8Length(json);
      if (bytes + 2 > maxBatchBytes) {
        fail({
          reason: 'too_large',
          message: `the event is ${bytes} bytes of JSON; a batch holds ${maxBatchBytes}`,
          events: [event],
        });
        return;
      }
      const entry: Entry = { seq: nextSeq++, json, bytes, at: 0 };
      if (waiting.length === 0 && held() < maxBuffered) {
        enqueue(entry);
        pump();
        return;
      }
      if (overflow === 'block') return new Promise<void>((admitted) => waiting.push({ entry, admitted }));
      if (overflow === 'drop-oldest' && queue.length > 0) {
        const oldest = queue.shift()!;
        queueBytes -= oldest.bytes;
        enqueue(entry);
        drop(parse([oldest]), 'overflow');
        settled();
        return;
      }
      drop([event], 'overflow');
      settled();
    } catch {
      // Nothing above should throw; if it ever does, the caller's request path still must not.
    }
    return;
  }

  function log(event: AuditEvent): Promise<void> | undefined {
    const waitsForRoom = accept(event);
    return overflow === 'block' ? (waitsForRoom ?? Promise.resolve()) : undefined;
  }

  function flush(): Promise<void> {
    const upTo = nextSeq;
    if (oldestUnsettled() >= upTo) return Promise.resolve();
    return new Promise<void>((done) => {
      flushes.push({ upTo, done });
      pump();
    });
  }

  function close({ timeoutMs }: { timeoutMs?: number } = {}): Promise<void> {
    closed = true;
    closing ??= (async () => {
      const flushed = flush();
      if (timeoutMs === undefined) return flushed;
      let expire: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<boolean>((resolve) => (expire = setTimeout(() => resolve(true), timeoutMs)));
      const timedOut = await Promise.race([flushed.then(() => false), expired]);
      clearTimeout(expire);
      if (!timedOut) return;
      abandoned = true;
      const left = queue.splice(0);
      queueBytes = 0;
      left.push(...waiting.splice(0).map(({ entry, admitted }) => (admitted(), entry)));
      if (left.length > 0) drop(parse(left), 'closed');
      abortAttempt?.();
      wakeBackoff?.();
      settled();
      await flushed;
    })();
    return closing;
  }

  return {
    log: log as AuditLogger<P>['log'],
    flush,
    close,
    metrics: () => ({ ...counts, pending: held() + waiting.length }),
  };
}
