import { UnavailableError } from '../domain/errors';

/** The database cannot be reached or cannot take writes now; the request may succeed if retried. */
export class StoreUnavailableError extends UnavailableError {
  constructor(cause: unknown) {
    // The cause (a driver's message) is for the log, never for the client.
    super('the database is unavailable; retry later', { cause });
  }
}

// Faults of the environment, not of the request: network errors; SQLite's busy, locked,
// read-only, full and I/O codes (with their extended forms, e.g. SQLITE_IOERR_WRITE);
// PostgreSQL classes 08 (connection), 53 (resources), 57P (shutdown), and 57014 / 55P03 /
// 25P03 (a statement, lock wait or idle transaction outlived the timeouts set in db.ts).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_READONLY',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  '57014',
  '55P03',
  '25P03',
]);

// node-postgres and the pool report a dropped, closed or timed-out connection without a code.
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout expired|Query read timeout|Client was closed and is not queryable|Client has encountered a connection error|operation timed out/i;

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = String((error as { code?: unknown }).code ?? '');
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CODES.has(code.split('_').slice(0, 2).join('_'))) return true;
  if (/^(08|53|57P)/.test(code)) return true;
  if (error.name === 'KnexTimeoutError') return true;
  return UNAVAILABLE_MESSAGES.test(error.message);
}

/** Rethrows environment faults as StoreUnavailableError so the API answers 503, not 500. */
export async function translateErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw isUnavailable(error) ? new StoreUnavailableError(error) : error;
  }
}
