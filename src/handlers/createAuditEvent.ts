import type { Handler } from './types';
import { writeEvents } from './writeEvents';

export const createAuditEvent: Handler<'createAuditEvent'> = async ({ body, headers, principal }, services) => {
  principal.assertCovers(body.imsOrgId);
  const key = headers['idempotency-key'] as string | undefined;
  const { ids, headers: replyHeaders } = await writeEvents(services, 'createAuditEvent', [body], principal, key);
  return { status: 201, body: ids[0], headers: { Location: `/audits/${ids[0]}`, ...replyHeaders } };
};
