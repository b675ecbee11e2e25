import { toBase64 } from '../domain/crypto';
import type { Handler } from './types';

export const getConsistencyProof: Handler<'getConsistencyProof'> = async ({ query, principal }, { store, notary }) => {
  principal.assertCovers(query.imsOrgId);
  const { proof, root } = await store.log.consistencyProof(query.imsOrgId, query.from, query.to);
  return {
    status: 200,
    body: {
      fromSize: query.from,
      toSize: query.to,
      consistencyProof: proof.map(toBase64),
      checkpoint: notary.sign(query.imsOrgId, query.to, root),
    },
  };
};
