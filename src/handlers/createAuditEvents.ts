import type { Handler } from './types';
import { writeEvents } from './writeEvents';

/** All or nothing: one uncovered org refuses the whole batch before anything is queued. */
export const createAuditEvents: Handler<'createAuditEvents'> = async ({ body, headers, principal }, services) => {
  for (const org of new Set(body.map((event) => event.imsOrgId))) principal.assertCovers(org);
  const key = headers['idempotency-key'] as string | undefined;
  const { ids, headers: replyHeaders } = await writeEvents(services, 'createAuditEvents', body, principal, key);
  return { status: 201, body: { ids }, headers: replyHeaders };
};
