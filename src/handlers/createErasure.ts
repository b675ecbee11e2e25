import type { Handler } from './types';
import { erasureOf } from './erasureOf';

/**
 * Erases the subject's personal data from the tenant's log: 201 when the erasure ended within
 * the wait, else 202 while it goes on. The spec has refused an empty or missing value already.
 */
export const createErasure: Handler<'createErasure'> = async ({ body, principal }, services) => {
  principal.assertCovers(body.imsOrgId);
  const { record, finished } = await services.erasures.start(body.imsOrgId, body.userIdentifier, principal.clientId);
  const headers = { location: `/audits/erasures/${record.id}` };
  return finished
    ? { status: 201, headers, body: erasureOf(record) }
    : { status: 202, headers, body: erasureOf(record) };
};
