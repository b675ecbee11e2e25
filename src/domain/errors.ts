import type { ErrorDetail, ErrorReason } from './api';

/**
 * A refusal or a fault in the service's own terms, named by its `reason` (the spec's
 * ErrorResponse enum). Every layer throws these; src/errors.ts alone maps a reason to its
 * HTTP status and headers, so no code below the app chooses a status.
 */
export class AuditError extends Error {
  constructor(
    readonly reason: ErrorReason,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
  }
}

/** The path exists, but not for this method. */
export class MethodNotAllowedError extends AuditError {
  constructor(
    message: string,
    readonly allowed: string[],
  ) {
    super('method_not_allowed', message);
  }
}

/** Not the request's fault: the database, the write queue or the token keys cannot serve it now. Retrying may succeed. */
export class UnavailableError extends AuditError {
  readonly retryAfterSeconds: number;

  constructor(message: string, { cause, retryAfterSeconds = 1 }: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super('service_unavailable', message);
    this.retryAfterSeconds = retryAfterSeconds;
    if (cause !== undefined) this.cause = cause;
  }
}
