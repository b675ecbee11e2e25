import { AuditError } from '../domain/errors';
import type { Handler } from './types';
import { erasureOf } from './erasureOf';

/** Another tenant's erasure is as absent as an unknown one (404). */
export const getErasure: Handler<'getErasure'> = async ({ params, principal }, services) => {
  const record = await services.erasures.get(params.id);
  if (!record || !principal.covers(record.imsOrgId)) {
    throw new AuditError('not_found', `erasure ${JSON.stringify(params.id)} not found`);
  }
  return { status: 200, body: erasureOf(record) };
};
