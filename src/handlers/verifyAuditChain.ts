import type { Handler } from './types';

export const verifyAuditChain: Handler<'verifyAuditChain'> = async ({ query, principal }, { store }) => {
  principal.assertCovers(query.imsOrgId);
  return { status: 200, body: await store.log.verify(query.imsOrgId, { since: query.since }) };
};
