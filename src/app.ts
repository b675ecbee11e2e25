import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import Koa from 'koa';
import type { Logger } from 'pino';
import { authenticate } from './auth/authenticate';
import { Principal } from './auth/principal';
import type { TokenVerifier } from './auth/tokenVerifier';
import { errorMiddleware, sendJson } from './errors';
import { handlers } from './handlers';
import type { Services } from './handlers/types';
import { awaitingContinue, jsonBodyReader } from './http/body';
import type { Route } from './http/contract';
import { namedOrg, observeRequests } from './http/observe';
import { mountRoutes } from './http/router';

export interface AppDeps extends Services {
  verifyToken: TokenVerifier;
  logger: Logger;
}

/** Health probes and other unsecured operations run as nobody: no orgs, no scopes. */
const ANONYMOUS = new Principal('', new Set(), new Set());
type UntypedHandler = (
  input: unknown,
  services: Services,
) => Promise<{ status: number; body: unknown; contentType?: string; headers?: Record<string, string> }>;

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function createApp({ verifyToken, logger, ...services }: AppDeps): Koa {
  const { contract, metrics } = services;
  const routeOf = (ctx: Koa.Context) => ctx.state.route as Route | undefined;
  const readSingle = jsonBodyReader(services.config.bodyLimitBytes);
  const readBatch = jsonBodyReader(services.config.batchBodyLimitBytes);
  const readBody = (route: Route) => (route.operationId === 'createAuditEvents' ? readBatch : readSingle);
  const app = new Koa();
  app.proxy = false;
  app.silent = true; // errors are logged by errorMiddleware, once, with the request id
  // Koa reports here only what fails after the response has started: a streamed body. The status
  // is sent by then, so Koa destroys the connection (a cut-off export never looks complete).
  app.on('error', (error: Error & { code?: string }, ctx?: Koa.Context) => {
    const requestId = ctx?.state.requestId as string | undefined;
    if (error.code === 'ERR_STREAM_PREMATURE_CLOSE')
      logger.debug({ requestId }, 'client left before the response ended');
    else logger.error({ err: error, requestId }, 'streamed response failed: %s', error.message);
  });

  app.use(async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('x-request-id', requestId);
    await next();
  });
  app.use(observeRequests(logger, metrics));
  app.use(errorMiddleware(logger, (ctx, status) => routeOf(ctx)?.stringBodyStatuses.has(status) ?? false));

  // Per operation, in the order the spec implies: authenticate, authorise the scope, read the
  // body, validate, then run the operation's handler.
  const run = async (route: Route, ctx: Koa.Context) => {
    const principal = route.secured ? await authenticate(ctx.headers, verifyToken) : ANONYMOUS;
    if (route.secured) ctx.state.principal = principal;
    if (route.requiredScope) principal.assertScope(route.requiredScope);
    const body = route.acceptsJsonBody ? await readBody(route)(ctx) : undefined;
    ctx.state.org = namedOrg(ctx.query, body);
    const request = contract.validate(route, {
      path: ctx.path,
      query: ctx.query,
      headers: ctx.headers,
      body,
      bodyText: ctx.request.rawBody,
    });
    // The contract validated the input against this operation's schemas, which the handler's types mirror.
    const handler = handlers[route.operationId] as unknown as UntypedHandler;
    const reply = await handler(
      { ...request, headers: ctx.headers, remoteAddress: ctx.socket.remoteAddress, principal },
      services,
    );
    for (const [name, value] of Object.entries(reply.headers ?? {})) ctx.set(name, value);
    if (reply.contentType === undefined) return sendJson(ctx, reply.status, reply.body);
    // Set before the body, so that Koa keeps the spec's media type instead of guessing one.
    ctx.set('Content-Type', reply.contentType);
    ctx.status = reply.status;
    ctx.body = reply.body;
  };
  mountRoutes(app, contract, run, { devMode: services.config.auth.mode === 'dev' });
  return app;
}

/**
 * Makes the server answer `Expect: 100-continue` requests like any other, sending `100 Continue`
 * only when the body is about to be read (after authentication and the size check), so a refused
 * client never uploads its body. Without this Node sends it at once. Any other expectation is
 * ignored, as RFC 9110 allows, rather than refused with a 417 that the spec does not document.
 */
export function acceptContinue(server: Server): void {
  server.on('checkContinue', (request, response) => {
    awaitingContinue.add(request);
    server.emit('request', request, response);
  });
  server.on('checkExpectation', (request, response) => server.emit('request', request, response));
}
