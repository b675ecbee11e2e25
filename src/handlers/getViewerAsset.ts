import { AuditError } from '../domain/errors';
import type { Handler } from './types';

export const getViewerAsset: Handler<'getViewerAsset'> = async ({ params }, { viewer }) => {
  const asset = viewer.asset(params.asset);
  if (!asset) throw new AuditError('not_found', `no viewer asset named ${JSON.stringify(params.asset)}`);
  return { status: 200, ...asset };
};
