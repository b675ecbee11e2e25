import Router, { type Layer, type RouterContext } from '@koa/router';
import type Koa from 'koa';
import { AuditError, MethodNotAllowedError } from '../domain/errors';
import type { Contract, Route } from './contract';

/** Runs one operation; the router has matched it and put its Route in ctx.state.route. */
export type OperationRunner = (route: Route, ctx: Koa.Context) => Promise<void>;

/**
 * The spec's operations as @koa/router routes, each named by its operationId. The router answers
 * HEAD for every GET; what it matches no operation for becomes our 404 or 405 (see unmatched),
 * from the routes it matched by path, as allowedMethods() would.
 */
export function mountRoutes(
  app: Koa,
  contract: Contract,
  run: OperationRunner,
  { devMode }: { devMode: boolean },
): void {
  // Exact paths (no trailing slash, case-sensitive), as the spec writes them; where several
  // operations match a path and method, the one with the fewest parameters (OpenAPI's rule).
  const router = new Router({ strict: true, sensitive: true, exclusive: 'specificity' });
  // A dev-only operation (x-dev-only) outside dev mode is not a route at all: 404 for every method.
  for (const route of contract.routes.filter((candidate) => devMode || !candidate.devOnly)) {
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
}

/**
 * A literal path wins over a template: `/audits/batch` belongs to the batch operation alone, so a
 * GET of it is 405, not a read of the event with id "batch". The router matches both.
 */
function assertNotShadowed(ctx: RouterContext, route: Route): void {
  if (route.routerPath === route.path) return;
  const owners = pathOwners(ctx);
  if (!owners.some((layer) => layer.paramNames.length > 0)) throw methodNotAllowed(ctx, owners);
}

/** The router's routes for the request's path: the literal ones if any, else every template. */
function pathOwners(ctx: RouterContext): Layer[] {
  const matched = ctx.matched ?? [];
  const literal = matched.filter((layer) => layer.paramNames.length === 0);
  return literal.length > 0 ? literal : matched;
}

/**
 * No operation ran: the router matched the path with other methods (405 with Allow, for any
 * method, OPTIONS and methods it does not know included), or not at all (404).
 */
function unmatched(): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.state.route) return;
    const owners = pathOwners(ctx as unknown as RouterContext);
    if (owners.length > 0) throw methodNotAllowed(ctx, owners);
    throw new AuditError('not_found', `no route for ${ctx.path.slice(0, 200)}`);
  };
}

/** Allow lists each method once, HEAD (which the router adds to every GET) right after GET. */
function methodNotAllowed(ctx: Koa.Context, layers: Layer[]): MethodNotAllowedError {
  const methods = [...new Set(layers.flatMap((layer) => layer.methods))].filter((method) => method !== 'HEAD');
  const get = methods.indexOf('GET');
  if (get >= 0) methods.splice(get + 1, 0, 'HEAD');
  return new MethodNotAllowedError(`${ctx.method} is not allowed on ${ctx.path.slice(0, 200)}`, methods);
}
