import type { Handler } from './types';

export const listSubscriptions: Handler<'listSubscriptions'> = async ({ query, principal }, { subscriptions }) => {
  principal.assertCovers(query.imsOrgId);
  return { status: 200, body: { items: await subscriptions.list(query.imsOrgId) } };
};
