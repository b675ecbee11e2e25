// The README's examples for other teams, quoted there between the README markers (test/clientPackage.test.ts
// checks that the README's code blocks equal these regions). The same test copies this file into
// throwaway consumer projects, compiles it against the packed package and runs it against a live server.
// README: import
import { createAuditClient, createAuditLogger, verifyEventInclusion, VerificationError } from '@audit-service/client';
// README: end

export async function typedCalls(baseUrl: string, token: () => Promise<string>): Promise<string> {
  // README: typed calls
  const audit = createAuditClient({ baseUrl, apiKey: 'my-app', token });
  const { data: id, error } = await audit.POST('/audits', {
    body: {
      source: 'billing',
      service: { serviceId: 'SKMS-1234' },
      resource: { resourceId: 'invoice/7' },
      action: 'update',
      imsOrgId: 'ACME@AdobeOrg',
      timestamp: new Date().toISOString(),
      userIdentifier: 'jane.doe@example.com',
    },
  });
  if (error !== undefined) throw new Error(`not stored: ${JSON.stringify(error)}`);
  const { data: page } = await audit.GET('/audits', { params: { query: { imsOrgId: 'ACME@AdobeOrg', limit: 10 } } });
  console.log(page?.items.map((event) => `${event.seq} ${event.action} ${event.resource.resourceId}`));
  // README: end
  return id;
}

export async function batchingLogger(baseUrl: string, token: () => Promise<string>) {
  // README: logging events
  const audit = createAuditLogger({
    baseUrl,
    apiKey: 'my-app',
    token,
    maxBatchSize: 100, // a batch goes when 100 events are buffered...
    maxDelayMs: 200, // ...or the oldest has waited 200 ms
    maxBufferedEvents: 10_000,
    overflow: 'drop-oldest',
    onDrop: (events, reason) => console.warn(`audit: ${events.length} events dropped (${reason})`),
    onFailure: ({ status, message, details }) => console.error('audit: not stored', status, message, details),
  });

  // In the request path: returns at once and never throws.
  audit.log({
    source: 'billing',
    service: { serviceId: 'SKMS-1234' },
    resource: { resourceId: 'invoice/7' },
    action: 'delete',
    imsOrgId: 'ACME@AdobeOrg',
    timestamp: new Date().toISOString(),
    userIdentifier: 'jane.doe@example.com',
  });

  // On shutdown: send everything logged, giving up on what is still undelivered after 10 s.
  await audit.close({ timeoutMs: 10_000 });
  console.log(audit.metrics()); // { sent: 1, retried: 0, dropped: 0, failed: 0, pending: 0 }
  // README: end
  return audit.metrics();
}

/** Not run by the consumer test yet: it needs a server that serves proofs (issue #13). */
export async function verifyingAnEvent(baseUrl: string, token: () => Promise<string>, id: string, pinnedKey: string) {
  const audit = createAuditClient({ baseUrl, apiKey: 'my-app', token });
  // README: verifying
  // pinnedKey: the service's verifier key, fetched once from GET /audits/checkpoint/key and kept,
  // e.g. 'audit.example+6f6bc5a2+AQ1bl2Sm7z7aTUWfW2hLfLj2hT0bJ3ZHf2vHqV3O6y0U'.
  const { data: event } = await audit.GET('/audits/{id}', { params: { path: { id } } });
  const { data: proof } = await audit.GET('/audits/{id}/proof', { params: { path: { id } } });
  if (event === undefined || proof === undefined) throw new Error(`event ${id} not found`);
  try {
    const { treeSize, keyName } = verifyEventInclusion(event, proof, [pinnedKey]);
    console.log(`event ${event.seq} is in the log of ${treeSize} events that ${keyName} signed`);
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    console.error(`NOT verified: ${error.message}`); // e.g. "the event's content does not match its leaf hash: …"
  }
  // README: end
}
