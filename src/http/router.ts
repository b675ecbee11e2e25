import Router, { type RouterContext } from '@koa/router';
import type Koa from 'koa';
import { AuditError, MethodNotAllowedError } from '../domain/errors';
import type { Contract, Route } from './contract';

/** Runs one operation; the router has matched it and put its Route in ctx.state.route. */
export type OperationRunner = (route: Route, ctx: Koa.Context) => Promise<void>;

/**
 * The spec's operations as @koa/router routes, each named by its operationId. The router answers
 * HEAD for every GET; what it matches nothing for becomes our 404 or 405 (see unmatched).
 */
export function mountRoutes(app: Koa, contract: Contract, run: OperationRunner): void {
  // exact paths (no trailing slash, case-sensitive), as the spec writes them; where several
  // operations match a path and method, the one with the fewest parameters (OpenAPI's rule).
  const router = new Router({ strict: true, sensitive: true, exclusive: 'specificity' });
  for (const route of contract.routes) {
    router.register(
      route.routerPath,
      [route.method],
      (ctx: RouterContext) => {
        assertNotShadowed(ctx, route);
        try {
          decodeURIComponent(ctx.path);
        } catch {
          throw new AuditError(
            'bad_request',
            `the path ${route.path} has a parameter that is not valid percent-encoding`,
          );
        }
        ctx.state.route = route;
        return run(route, ctx);
      },
      { name: route.operationId },
    );
  }
  app.use(unmatched());
  app.use(router.routes());
  app.use(router.allowedMethods());
}

/**
 * A literal path wins over a template: `/audits/batch` is the batch operation's path, so a GET of
 * it is 405, not a read of the event with id "batch". The router matches both; we refuse here.
 */
function assertNotShadowed(ctx: RouterContext, route: Route): void {
  if (route.routerPath === route.path) return;
  const literal = (ctx.matched ?? []).filter((layer) => layer.paramNames.length === 0);
  if (literal.length > 0) {
    throw new MethodNotAllowedError(
      `${ctx.method} is not allowed on ${ctx.path}`,
      allowList(literal.flatMap((l) => l.methods)),
    );
  }
}

/**
 * allowedMethods() marks a request whose path matched but whose method did not (405, or 501 for
 * a method the router does not know, OPTIONS included); we render either as our 405
 * ErrorResponse, and an unmatched path as our 404.
 */
function unmatched(): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.state.route) return;
    const allowed = ctx.response.get('Allow');
    ctx.remove('Allow');
    if (allowed) {
      throw new MethodNotAllowedError(`${ctx.method} is not allowed on ${ctx.path}`, allowList(allowed.split(/,\s*/)));
    }
    throw new AuditError('not_found', `no route for ${ctx.path.slice(0, 200)}`);
  };
}

/** Each method once, HEAD right after GET. */
function allowList(methods: string[]): string[] {
  const unique = [...new Set(methods)].filter((method) => method !== 'HEAD');
  const get = unique.indexOf('GET');
  if (get >= 0) unique.splice(get + 1, 0, 'HEAD');
  return unique;
}
