import { AuditError } from '../domain/errors';
import type { Handler } from './types';

export const getDocsAsset: Handler<'getDocsAsset'> = async ({ params }, { docs }) => {
  const asset = docs.asset(params.asset);
  if (!asset) throw new AuditError('not_found', `no docs asset named ${JSON.stringify(params.asset)}`);
  return { status: 200, ...asset };
};
