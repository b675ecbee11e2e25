/** The database cannot be reached or cannot take writes now; the request may succeed if retried. */
export class StoreUnavailableError extends Error {
  constructor(readonly cause: unknown) {
    super(`database unavailable: ${(cause as Error)?.message ?? cause}`);
  }
}

// Connection-level failures, PostgreSQL classes 08 (connection), 53 (resources), 57P (shutdown)
// and SQLite's busy/locked/read-only/full/IO codes: faults of the environment, not of the request.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN',
]);

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = String((error as { code?: unknown }).code ?? '');
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CODES.has(code.split('_').slice(0, 2).join('_'))) return true;
  if (/^(08|53|57P)/.test(code)) return true;
  if (error.name === 'KnexTimeoutError') return true;
  // node-postgres reports a dropped or timed-out connection without a code.
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message);
}

/** Rethrows environment faults as StoreUnavailableError so the API answers 503, not 500. */
export async function translateErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw isUnavailable(error) ? new StoreUnavailableError(error) : error;
  }
}
