import type { Handler } from './types';

export const getMetrics: Handler<'getMetrics'> = async (_input, { metrics }) => ({
  status: 200,
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  body: await metrics.exposition(),
});
