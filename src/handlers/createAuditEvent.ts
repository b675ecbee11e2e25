import type { Handler } from './types';

export const createAuditEvent: Handler<'createAuditEvent'> = async ({ body, principal }, { store, metrics }) => {
  principal.assertCovers(body.imsOrgId);
  const stored = await store.append([body]);
  metrics.recordAccepted(stored.length);
  const [event] = stored;
  return { status: 201, body: event.id, headers: { Location: `/audits/${event.id}` } };
};
