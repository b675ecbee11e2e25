import type { Handler } from './types';

export const getCheckpointKey: Handler<'getCheckpointKey'> = async (_input, { notary }) => {
  return Promise.resolve({ status: 200, body: notary.verifierKeys(), contentType: 'text/plain; charset=utf-8' });
};
