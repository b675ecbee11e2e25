import { isLoopbackRequest } from '../auth/devSignIn';
import { AuditError } from '../domain/errors';
import type { Handler } from './types';

/**
 * POST /dev/token: mounted only in dev mode (x-dev-only). A request from another machine, or
 * naming another host, gets the very 404 of a path that does not exist.
 */
export const createDevToken: Handler<'createDevToken'> = async ({ headers, remoteAddress }, { devSignIn }) => {
  const host = typeof headers.host === 'string' ? headers.host : undefined;
  if (!devSignIn || !isLoopbackRequest(remoteAddress, host)) {
    throw new AuditError('not_found', 'no route for /dev/token');
  }
  return { status: 200, body: await devSignIn(), headers: { 'Cache-Control': 'no-store' } };
};
