import { ApiError } from '../errors';
import type { Handler } from './types';

export const getDocsAsset: Handler<'getDocsAsset'> = async ({ params }, { docs }) => {
  const asset = docs.asset(params.asset);
  if (!asset) throw new ApiError(404, 'not_found', `no docs asset named ${JSON.stringify(params.asset)}`);
  return { status: 200, ...asset };
};
