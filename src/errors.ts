import type Koa from 'koa';
import type { Logger } from 'pino';
import type { ErrorReason, ErrorResponse } from './domain/api';
import { AuditError, MethodNotAllowedError, UnavailableError } from './domain/errors';

/** The one table from a domain error's reason to its HTTP status. */
const STATUS: Record<ErrorReason, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  internal_error: 500,
  service_unavailable: 503,
};

export function statusOf(error: AuditError): number {
  return STATUS[error.reason];
}

/** The headers a reason's response carries (RFC 9110: 401 names its scheme, 405 its methods; 503 says when to retry). */
function headersOf(error: AuditError): Record<string, string> {
  if (error.reason === 'unauthorized') return { 'WWW-Authenticate': 'Bearer' };
  if (error instanceof MethodNotAllowedError) return { Allow: error.allowed.join(', ') };
  if (error instanceof UnavailableError) return { 'Retry-After': String(error.retryAfterSeconds) };
  return {};
}

/**
 * Whether a status's documented body is a bare JSON string (the seed API's 400/401)
 * rather than an ErrorResponse; the contract answers it per operation.
 */
export type StringBodyLookup = (ctx: Koa.Context, status: number) => boolean;

const INTERNAL = new AuditError('internal_error', 'an unexpected error occurred');

/** The one place that turns errors into responses. Internals of unexpected errors never reach the client. */
export function errorMiddleware(logger: Logger, isStringBody: StringBodyLookup): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const error = caught instanceof AuditError ? caught : INTERNAL;
      const status = statusOf(error);
      ctx.state.error = error; // for the request log and the rejection metrics
      if (status >= 500) {
        logger.error({ err: caught, requestId: ctx.state.requestId }, 'request failed: %s', error.message);
      }
      for (const [name, value] of Object.entries(headersOf(error))) ctx.set(name, value);
      const body: ErrorResponse | string = isStringBody(ctx, status)
        ? error.message
        : { reason: error.reason, message: error.message, ...(error.details && { details: error.details }) };
      sendJson(ctx, status, body);
    }
  };
}

/** JSON with the exact media type the spec declares (no charset suffix, which contract tests compare). */
export function sendJson(ctx: Koa.Context, status: number, body: unknown): void {
  ctx.status = status;
  ctx.set('Content-Type', 'application/json');
  ctx.body = JSON.stringify(body);
}
