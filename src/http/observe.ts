import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal';
import type { AuditError } from '../domain/errors';
import type { Metrics } from '../metrics';
import type { Route } from './contract';

/** What the pipeline learns about a request that the request log and the metrics report. */
export interface Observed {
  route?: Route;
  principal?: Principal;
  /** The tenant the request names, where it names one (query or body `imsOrgId`). */
  org?: string;
  error?: AuditError;
}

/**
 * One log line and one set of request metrics per request, once the response has ended, so that
 * the duration covers a streamed body (an export) too. It runs outside errorMiddleware, so it
 * sees the final status of every request, failed ones included. Payloads are never logged.
 */
export function observeRequests(logger: Logger, metrics: Metrics): Koa.Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    let observed = false;
    const observe = () => {
      if (observed) return;
      observed = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const { route, principal, org, error } = ctx.state as Observed;
      const operationId = route?.operationId ?? 'none';
      metrics.recordRequest(operationId, ctx.status, seconds);
      // Operations that need audit.write are the ones that post events: each refusal is a rejection.
      if (error && route?.requiredScope === 'audit.write') metrics.recordRejected(error.reason);
      logger.info(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          operationId,
          status: ctx.status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          client_id: principal?.clientId,
          org,
          reason: error?.reason,
          // The client left before the whole response was sent.
          ...(!ctx.res.writableFinished && { aborted: true }),
        },
        'request',
      );
    };
    // 'finish': the last byte was handed to the OS; 'close' alone: the connection went first.
    ctx.res.once('finish', observe).once('close', observe);
    await next();
  };
}

/** The tenant a request names, if it names a plausible one; never more than an id's length is logged. */
export function namedOrg(query: Record<string, unknown>, body: unknown): string | undefined {
  const candidate = query.imsOrgId ?? (body as { imsOrgId?: unknown } | undefined)?.imsOrgId;
  return typeof candidate === 'string' && candidate.length <= 256 ? candidate : undefined;
}
