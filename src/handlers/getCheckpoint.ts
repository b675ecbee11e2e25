import type { Handler } from './types';

export const getCheckpoint: Handler<'getCheckpoint'> = async ({ query, principal }, { store, notary }) => {
  principal.assertCovers(query.imsOrgId);
  const head = await store.log.head(query.imsOrgId);
  const note = notary.sign(query.imsOrgId, head.size, Buffer.from(head.rootHash, 'base64'));
  return { status: 200, body: note, contentType: 'text/plain; charset=utf-8' };
};
