import type { Handler } from './types';

export const createAuditEvent: Handler<'createAuditEvent'> = async ({ body, principal }, { store }) => {
  principal.assertCovers(body.imsOrgId);
  const [event] = await store.append([body]);
  return { status: 201, body: event.id, headers: { Location: `/audits/${event.id}` } };
};
