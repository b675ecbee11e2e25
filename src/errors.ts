import type Koa from 'koa';
import type { Logger } from 'pino';
import type { ErrorResponse } from './api';
import { StoreUnavailableError } from './store/errors';
import { WriteQueueFullError } from './store/eventWriter';

/** An error a client caused or must see: thrown by any layer, rendered by errorMiddleware alone. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: ErrorResponse['details'],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Whether a status's documented body is a bare JSON string (the seed API's 400/401)
 * rather than an ErrorResponse; the contract answers it per operation.
 */
export type StringBodyLookup = (ctx: Koa.Context, status: number) => boolean;

/** The one place that turns errors into responses. Internals of unexpected errors never reach the client. */
export function errorMiddleware(logger: Logger, isStringBody: StringBodyLookup): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const error = toApiError(caught);
      ctx.state.error = error; // for the request log and the rejection metrics
      if (error.status >= 500) {
        logger.error({ err: caught, requestId: ctx.state.requestId }, 'request failed: %s', error.message);
      }
      ctx.status = error.status;
      for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
      const body: ErrorResponse | string = isStringBody(ctx, error.status)
        ? error.message
        : { reason: error.reason, message: error.message, ...(error.details && { details: error.details }) };
      sendJson(ctx, error.status, body);
    }
  };
}

function toApiError(caught: unknown): ApiError {
  if (caught instanceof ApiError) return caught;
  if (caught instanceof StoreUnavailableError) {
    return new ApiError(503, 'service_unavailable', 'the database is unavailable; retry later', undefined, {
      'Retry-After': '1',
    });
  }
  if (caught instanceof WriteQueueFullError) {
    return new ApiError(503, 'service_unavailable', caught.message, undefined, { 'Retry-After': '1' });
  }
  return new ApiError(500, 'internal_error', 'an unexpected error occurred');
}

/** JSON with the exact media type the spec declares (no charset suffix, which contract tests compare). */
export function sendJson(ctx: Koa.Context, status: number, body: unknown): void {
  ctx.status = status;
  ctx.set('Content-Type', 'application/json');
  ctx.body = JSON.stringify(body);
}
