import type { Handler } from './types';

/** Ready when the database answers; a StoreUnavailableError becomes 503. */
export const getReadiness: Handler<'getReadiness'> = async (_input, { store }) => {
  await store.ping();
  return { status: 200, body: { status: 'ok' } };
};
