import { toBase64 } from '../domain/crypto';
import { AuditError } from '../domain/errors';
import type { Handler } from './types';

/** As on GET /audits/{id}, another tenant's event is as absent as an unknown one, whatever the treeSize. */
export const getInclusionProof: Handler<'getInclusionProof'> = async ({ params, query, principal }, services) => {
  const { store, notary } = services;
  const found = await store.log.eventAndHead(params.id);
  if (!found || !principal.covers(found.event.imsOrgId)) {
    throw new AuditError('not_found', `audit event ${JSON.stringify(params.id)} not found`);
  }
  const { event, head } = found;
  const { proof, root, treeSize } = await store.log.inclusionProof(event.imsOrgId, event.seq, query.treeSize, head);
  return {
    status: 200,
    body: {
      leafIndex: event.seq - 1,
      treeSize,
      leafHash: event.leafHash,
      inclusionProof: proof.map(toBase64),
      checkpoint: notary.sign(event.imsOrgId, treeSize, root),
    },
  };
};
