// A type test: `tsc --noEmit` (part of `npm test`) compiles it and mocha never runs it. Every
// expect-error directive below must meet a real compile error, or tsc fails ("Unused directive"):
// so if the client stopped checking paths, fields or types, this file would stop compiling.
import { createAuditClient, type AuditEvent } from '@audit-service/client';

const client = createAuditClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'my-app', token: 'jwt' });
const event: AuditEvent = {
  source: 'marketingcloud',
  service: { serviceId: 'SKMS-1234' },
  resource: { resourceId: 'stream/42' },
  action: 'update',
  imsOrgId: 'ACME@AdobeOrg',
  timestamp: '2017-10-31T00:02:04.232Z',
  userIdentifier: 'jane.doe@example.com',
};

/** The README's example, which must keep compiling. */
export async function readmeExample(): Promise<string | undefined> {
  const audit = createAuditClient({
    baseUrl: 'http://127.0.0.1:8080',
    apiKey: 'my-app',
    token: process.env.AUDIT_TOKEN!,
  });
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
  const refusal: string | { reason: string; message: string } | undefined = error;
  void refusal;
  return id;
}

export async function typeErrorsTheClientCatches(): Promise<void> {
  // A correct call compiles, and its data is the id.
  const { data } = await client.POST('/audits', { body: event });
  const id: string | undefined = data;

  await client.POST('/audits', {
    body: {
      source: 'marketingcloud',
      service: { serviceId: 'SKMS-1234' },
      resource: { resourceId: 'stream/42' },
      action: 'update',
      // @ts-expect-error: a misspelt field (the spec's name is imsOrgId)
      imsOrgID: 'ACME@AdobeOrg',
      timestamp: '2017-10-31T00:02:04.232Z',
      userIdentifier: 'jane.doe@example.com',
    },
  });

  await client.POST('/audits', {
    // @ts-expect-error: a wrong type (timestamp is a string)
    body: { ...event, timestamp: 1509408124232 },
  });

  const { imsOrgId: _required, ...withoutOrg } = event;
  // @ts-expect-error: a required field missing
  await client.POST('/audits', { body: withoutOrg });

  // @ts-expect-error: a path the spec does not have
  await client.POST('/audit', { body: event });

  // @ts-expect-error: the id is a string, not a number
  const wrong: number | undefined = (await client.POST('/audits', { body: event })).data;

  // @ts-expect-error: createAuditClient needs the client id
  createAuditClient({ baseUrl: 'http://127.0.0.1:8080', token: 'jwt' });

  void [id, wrong];
}
