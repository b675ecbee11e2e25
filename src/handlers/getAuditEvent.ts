import { AuditError } from '../domain/errors';
import type { Handler } from './types';

/** Another tenant's event is as absent as an unknown one: same status, same body, no leak. */
export const getAuditEvent: Handler<'getAuditEvent'> = async ({ params, principal }, { store }) => {
  const event = await store.get(params.id);
  if (!event || !principal.covers(event.imsOrgId)) {
    throw new AuditError('not_found', `audit event ${JSON.stringify(params.id)} not found`);
  }
  return { status: 200, body: event };
};
