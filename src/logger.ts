import pino, { type DestinationStream, type Logger } from 'pino';
import { withoutCredentials } from './config';

// Nothing logs headers or tokens on purpose; these paths make sure an object that carries them
// (a request, an error with its request's headers) is censored rather than written out. They
// are spelled out: wildcard paths made redaction the costliest part of every request log line.
const SECRET_KEYS = ['authorization', 'Authorization', 'token'];
const CARRIERS = [
  '',
  'headers.',
  'req.headers.',
  'err.',
  'err.headers.',
  'err.request.headers.',
  'err.config.headers.',
];
const REDACT_PATHS = CARRIERS.flatMap((carrier) => SECRET_KEYS.map((key) => carrier + key));

// Buffered lines are written at least this often, so a quiet server's lines (and a crash's last
// ones) reach stdout within a second instead of waiting for the 4 KiB batch to fill.
const FLUSH_INTERVAL_MS = 500;
// How deep an error's cause chain, and a logged object's nesting, is followed.
const MAX_DEPTH = 5;

/** What of an error reaches the log: never its raw packet, headers, body, request, response or config. */
export interface SafeError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: SafeError;
  errors?: SafeError[];
}

/**
 * The service's logger: JSON lines at `level` on stdout, credentials redacted, errors reduced
 * to safe fields. Lines are written in batches rather than one write per line (a request log
 * line per request would otherwise cost a system call each), flushed every 500 ms and at exit.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    formatters: { log: serializeNestedErrors },
  };
  if (destination) return pino(options, destination);
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    try {
      stdout.flush();
    } catch {
      // stdout is gone (its reader exited): there is nowhere left to write, and no reason to crash.
    }
  }, FLUSH_INTERVAL_MS).unref();
  return pino(options, stdout);
}

/**
 * An error as it may be logged: type, message, stack, code and the same of its causes. Node's
 * HTTP parser errors carry the raw request bytes (`rawPacket`: the Authorization header, the
 * body), HTTP clients' errors their request and config: none of it is kept. URL credentials
 * and bearer tokens in the message or stack are masked.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const error = value as Error & { code?: unknown };
  const safe: SafeError = { type: error.constructor?.name || 'Error', message: scrub(String(error.message)) };
  if (typeof error.stack === 'string') safe.stack = scrub(error.stack);
  if (typeof error.code === 'string' || typeof error.code === 'number') safe.code = error.code;
  if (depth < MAX_DEPTH) {
    if (error.cause instanceof Error) safe.cause = serializeError(error.cause, depth + 1) as SafeError;
    if (error instanceof AggregateError && Array.isArray(error.errors)) {
      safe.errors = (error.errors as unknown[])
        .filter((inner) => inner instanceof Error)
        .slice(0, 10)
        .map((inner) => serializeError(inner, depth + 1) as SafeError);
    }
  }
  return safe;
}

/** Errors logged under any key, at any depth, are serialized as `err` is; other values are left alone. */
function serializeNestedErrors(object: Record<string, unknown>): Record<string, unknown> {
  return replaceErrors(object, 0) as Record<string, unknown>;
}

function replaceErrors(value: unknown, depth: number): unknown {
  if (value instanceof Error) return serializeError(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => replaceErrors(item, depth + 1));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  // Only plain objects are walked: Buffers and class instances are left to pino as they are.
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    const inner = (value as Record<string, unknown>)[key];
    if (typeof inner !== 'object' || inner === null) continue;
    const replaced = replaceErrors(inner, depth + 1);
    if (replaced !== inner) (copy ??= { ...(value as Record<string, unknown>) })[key] = replaced;
  }
  return copy ?? value;
}

const BEARER = /\b(bearer\s+)[\w~+/.-]+=*/gi;

function scrub(text: string): string {
  return withoutCredentials(text).replace(BEARER, '$1[redacted]');
}
