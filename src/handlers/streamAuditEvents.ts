import type { Handler } from './types';

export const streamAuditEvents: Handler<'streamAuditEvents'> = async ({ query, headers, principal }, { streams }) => {
  principal.assertCovers(query.imsOrgId);
  // The contract checked the header's digits; EventSource sends it on every reconnect.
  const lastEventId = headers['last-event-id'];
  const afterSeq = typeof lastEventId === 'string' ? Number(lastEventId) : (query.afterSeq ?? 0);
  return {
    status: 200,
    contentType: 'text/event-stream',
    body: await streams.start(query.imsOrgId, afterSeq),
    // no-transform and X-Accel-Buffering: proxies must pass each message on as it comes. A
    // stream's connection is not reused: at shutdown it would otherwise linger as a keep-alive.
    headers: { 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no', Connection: 'close' },
  };
};
