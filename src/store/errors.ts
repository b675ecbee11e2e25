import knex from 'knex';
import { UnavailableError } from '../domain/errors';

/** The database cannot be reached or cannot take writes now; the request may succeed if retried. */
export class StoreUnavailableError extends UnavailableError {
  constructor(cause: unknown) {
    // The cause (a driver's message) is for the log, never for the client.
    super('the database is unavailable; retry later', { cause });
  }
}

/** The codes of the faults the store raises itself, where the driver's error carries none. */
export const FAULT_CODES = {
  /** No reply to a PostgreSQL statement within the reply timeout (postgresPool.ts). */
  replyTimeout: 'AUDIT_DB_REPLY_TIMEOUT',
  /** A query on a PostgreSQL connection that was closed or broke. */
  connectionLost: 'AUDIT_DB_CONNECTION_LOST',
  /** No PostgreSQL connection could be had within the timeout. */
  connectFailed: 'AUDIT_DB_CONNECT_FAILED',
} as const;

/** A fault the store detected itself, with one of FAULT_CODES (the driver's error, if any, as cause). */
export class DatabaseFaultError extends Error {
  override name = 'DatabaseFaultError';

  constructor(
    message: string,
    readonly code: (typeof FAULT_CODES)[keyof typeof FAULT_CODES],
    cause?: unknown,
  ) {
    super(cause instanceof Error ? `${message}: ${cause.message}` : message, { cause });
  }
}

// Faults of the environment, not of the request: network errors; SQLite's busy, locked,
// read-only, full and I/O codes (with their extended forms, e.g. SQLITE_IOERR_WRITE);
// PostgreSQL classes 08 (connection), 53 (resources), 57P (shutdown), and 57014 / 55P03 /
// 25P03 (a statement, lock wait or idle transaction outlived the timeouts set in postgresPool.ts);
// and the store's own FAULT_CODES.
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
  ...Object.values(FAULT_CODES),
]);

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const raw = (error as { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : '';
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CODES.has(code.split('_').slice(0, 2).join('_'))) return true;
  if (/^(08|53|57P)/.test(code)) return true;
  // SQLite's pooled connection (knex's own pool) was not free within the timeout.
  return error instanceof knex.KnexTimeoutError;
}

/** Rethrows environment faults as StoreUnavailableError so the API answers 503, not 500. */
export async function translateErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw isUnavailable(error) ? new StoreUnavailableError(error) : error;
  }
}
