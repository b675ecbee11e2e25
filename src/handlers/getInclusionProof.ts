import { toBase64 } from '../domain/crypto';
import { AuditError } from '../domain/errors';
import type { Handler } from './types';

/** As on GET /audits/{id}, another tenant's event is as absent as an unknown one. */
export const getInclusionProof: Handler<'getInclusionProof'> = async ({ params, query, principal }, services) => {
  const { store, notary } = services;
  const event = await store.get(params.id);
  if (!event || !principal.covers(event.imsOrgId)) {
    throw new AuditError('not_found', `audit event ${JSON.stringify(params.id)} not found`);
  }
  const { proof, root, treeSize } = await store.log.inclusionProof(event.imsOrgId, event.seq, query.treeSize);
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
