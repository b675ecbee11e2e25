import type { Handler } from './types';
import { retentionAnswer } from './retentionAnswer';

/** A tenant without a policy of its own (or without events) answers the default. */
export const getRetentionPolicy: Handler<'getRetentionPolicy'> = async ({ query, principal }, services) => {
  principal.assertCovers(query.imsOrgId);
  return { status: 200, body: retentionAnswer(await services.store.retention.policy(query.imsOrgId), services.config) };
};
