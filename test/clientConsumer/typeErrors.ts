// Compiled by the root tsc (npm test) against the source and in each consumer project against the
// packed package: every expect-error directive must meet a real compile error,
// or tsc fails ("Unused '@ts-expect-error' directive"), so types that stopped checking would fail it.
import { createAuditClient, createAuditLogger, type AuditEvent } from '@audit-service/client';

const event: AuditEvent = {
  source: 'billing',
  service: { serviceId: 'SKMS-1234' },
  resource: { resourceId: 'invoice/7' },
  action: 'update',
  imsOrgId: 'ACME@AdobeOrg',
  timestamp: '2017-10-31T00:02:04.232Z',
  userIdentifier: 'jane.doe@example.com',
};

export async function misspelt(): Promise<void> {
  const audit = createAuditClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'my-app', token: 'jwt' });
  await audit.POST('/audits', {
    body: {
      source: 'billing',
      service: { serviceId: 'SKMS-1234' },
      resource: { resourceId: 'invoice/7' },
      action: 'update',
      // @ts-expect-error: a misspelt field (the spec's name is imsOrgId)
      imsOrgID: 'ACME@AdobeOrg',
      timestamp: '2017-10-31T00:02:04.232Z',
      userIdentifier: 'jane.doe@example.com',
    },
  });
  // @ts-expect-error: a wrong type (timestamp is a string)
  await audit.POST('/audits/batch', { body: [{ ...event, timestamp: 1509408124232 }] });

  const { imsOrgId: _required, ...withoutOrg } = event;
  // @ts-expect-error: a required field missing
  await audit.POST('/audits', { body: withoutOrg });
  // @ts-expect-error: a path the spec does not have
  await audit.POST('/audit', { body: event });
  // @ts-expect-error: the id is a string, not a number
  const wrong: number | undefined = (await audit.POST('/audits', { body: event })).data;
  void wrong;
  // @ts-expect-error: createAuditClient needs the client id
  createAuditClient({ baseUrl: 'http://127.0.0.1:8080', token: 'jwt' });

  const logger = createAuditLogger({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'my-app', token: 'jwt' });
  // @ts-expect-error: a misspelt field in a logged event
  logger.log({ ...event, userIdentifer: 'jane.doe@example.com' });
  // @ts-expect-error: not an overflow policy
  createAuditLogger({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'my-app', token: 'jwt', overflow: 'drop-all' });
}
