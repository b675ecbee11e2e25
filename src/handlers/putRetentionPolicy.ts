import { AuditError } from '../domain/errors';
import { parseRetention } from '../domain/retention';
import type { Handler } from './types';
import { retentionAnswer } from './retentionAnswer';

export const putRetentionPolicy: Handler<'putRetentionPolicy'> = async ({ query, body, principal }, services) => {
  principal.assertCovers(query.imsOrgId);
  const { retention, legalHold } = body;
  if (retention !== null) {
    // The schema's pattern admits the form; the domain also refuses zero and absurd lengths.
    const parsed = parseRetention(retention);
    if ('problem' in parsed) {
      throw new AuditError('bad_request', `body.retention ${JSON.stringify(retention)}: ${parsed.problem}`, [
        { path: 'body.retention', message: parsed.problem },
      ]);
    }
  }
  const state = await services.store.retention.setPolicy(query.imsOrgId, { retention, legalHold });
  return { status: 200, body: retentionAnswer(state, services.config) };
};
