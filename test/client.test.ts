import { expect } from 'chai';
// Imported by the package's name (tsconfig paths map it to src/client), as other teams import it.
import { createAuditClient, type AuditEvent } from '@audit-service/client';
import { describeEachDatabase } from './helpers/databases';
import { sampleEvent, startService, type RunningService } from './helpers/service';
import { CLIENT_ID, mintToken, ORG } from './helpers/tokens';

describeEachDatabase('createAuditClient', (database) => {
  let running: RunningService;
  before(async () => {
    running = await startService(database().url);
  });
  after(() => running?.close());

  const event: AuditEvent = sampleEvent();

  it('posts an event with both credentials and returns the typed id', async () => {
    const client = createAuditClient({ baseUrl: running.url, apiKey: CLIENT_ID, token: await mintToken() });
    const { data, error, response } = await client.POST('/audits', { body: event });
    expect(error).to.equal(undefined);
    expect(response.status).to.equal(201);
    expect(data).to.be.a('string');
    expect(response.headers.get('location')).to.equal(`/audits/${data}`);
    const stored = await running.service.store.get(data!);
    expect(stored).to.deep.include({ id: data, imsOrgId: ORG, action: event.action });
  });

  it('posts a batch and gets the ids in input order', async () => {
    const client = createAuditClient({ baseUrl: running.url, apiKey: CLIENT_ID, token: await mintToken() });
    const batch = [event, { ...event, action: 'delete' }];
    const { data, response } = await client.POST('/audits/batch', { body: batch });
    expect(response.status).to.equal(201);
    const stored = await Promise.all(data!.ids.map((id) => running.service.store.get(id)));
    expect(stored.map((e) => e?.action)).to.deep.equal(['update', 'delete']);
  });

  it('asks a token function for a current token on every request', async () => {
    let calls = 0;
    const client = createAuditClient({
      baseUrl: running.url,
      apiKey: CLIENT_ID,
      token: async () => {
        calls += 1;
        return mintToken();
      },
    });
    expect((await client.POST('/audits', { body: event })).response.status).to.equal(201);
    expect((await client.POST('/audits', { body: event })).response.status).to.equal(201);
    expect(calls).to.equal(2);
  });

  it('returns the documented error bodies: a string for 401, an ErrorResponse for 403', async () => {
    const wrongKey = createAuditClient({ baseUrl: running.url, apiKey: 'someone-else', token: await mintToken() });
    const unauthorized = await wrongKey.POST('/audits', { body: event });
    expect(unauthorized.response.status).to.equal(401);
    expect(unauthorized.error).to.equal("x-api-key does not match the token's client_id");

    const client = createAuditClient({ baseUrl: running.url, apiKey: CLIENT_ID, token: await mintToken() });
    const forbidden = await client.POST('/audits', { body: { ...event, imsOrgId: 'ORG-B@AdobeOrg' } });
    expect(forbidden.response.status).to.equal(403);
    expect(forbidden.error).to.deep.equal({
      reason: 'forbidden',
      message: 'token does not cover imsOrgId "ORG-B@AdobeOrg"',
    });
  });

  it('reads the unauthenticated operations too', async () => {
    const client = createAuditClient({ baseUrl: running.url, apiKey: CLIENT_ID, token: 'unused' });
    expect((await client.GET('/health/ready')).data).to.deep.equal({ status: 'ok' });
    const spec = await client.GET('/openapi.json');
    expect(spec.data).to.have.property('openapi', '3.0.3');
  });
});
