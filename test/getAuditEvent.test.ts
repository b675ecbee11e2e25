import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';
import type { StoredAuditEvent } from './helpers/reads';

const OTHER_ORG = 'ORG-B@AdobeOrg';

describeEachDatabase('GET /audits/{id}', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: [ORG, OTHER_ORG] });
  });
  after(() => running?.close());

  const post = async (event: Record<string, unknown>) => {
    const res = await postJson(`${running.url}/audits`, event, headers);
    expect(res.status).to.equal(201);
    return (await res.json()) as string;
  };
  const get = (id: string, extra: Record<string, string> = headers) =>
    fetch(`${running.url}/audits/${id}`, { headers: extra });
  const notFoundBody = (id: string) => ({
    reason: 'not_found',
    message: `audit event ${JSON.stringify(id)} not found`,
  });

  it('returns every field as posted, plus what the server assigned', async () => {
    const event = sampleEvent({
      action: 'permission.grant',
      source: 'creativecloud',
      service: { serviceId: 'SKMS-9' },
      resource: { resourceId: 'folder/ü/"x", y' },
      userIdentifier: 'José <jose@example.com>',
      timestamp: '2017-10-31T05:32:04.232987+05:30',
      tags: { region: 'eu-west-1', 'a key with spaces': '', emoji: '🔒', multiline: 'a\nb' },
    });
    const postedAt = Date.now();
    const id = await post(event);
    const res = await get(id);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/json');
    const body = (await res.json()) as StoredAuditEvent;
    const { id: gotId, receivedAt, seq, leafHash, salts, ...fields } = body;
    expect(gotId).to.equal(id);
    expect(fields).to.deep.equal({ ...event, timestamp: '2017-10-31T00:02:04.232Z' });
    expect(Date.parse(receivedAt)).to.be.within(postedAt - 1000, Date.now() + 1000);
    expect(receivedAt).to.equal(new Date(Date.parse(receivedAt)).toISOString());
    expect(seq).to.be.a('number').at.least(1);
    expect(leafHash).to.match(/^[A-Za-z0-9+/]{43}=$/);
    expect(salts.userIdentifier).to.match(/^[A-Za-z0-9+/]{22}==$/);
    // The API answers exactly what the store holds.
    expect(body).to.deep.equal(await running.service.store.get(id));
  });

  it('returns an event posted without tags without a tags field', async () => {
    const { tags: _tags, ...event } = sampleEvent({ action: 'untagged' });
    const body = (await (await get(await post(event))).json()) as StoredAuditEvent;
    expect(body).to.not.have.property('tags');
    expect(body.action).to.equal('untagged');
  });

  it('answers HEAD as GET without a body: the same status and headers, for a stored and an unknown id', async () => {
    const id = await post(sampleEvent({ action: 'head' }));
    for (const target of [id, '00000000-0000-7000-8000-000000000000']) {
      const [got, head] = await Promise.all([
        get(target),
        fetch(`${running.url}/audits/${target}`, { method: 'HEAD', headers }),
      ]);
      expect(head.status, target).to.equal(got.status);
      expect(head.headers.get('content-type')).to.equal(got.headers.get('content-type'));
      expect(head.headers.get('content-length')).to.equal(got.headers.get('content-length'));
      expect(await head.text()).to.equal('');
    }
  });

  it('answers 404 ErrorResponse for an id that names no event', async () => {
    const id = '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a';
    const res = await get(id);
    expect(res.status).to.equal(404);
    expect(await res.json()).to.deep.equal(notFoundBody(id));
  });

  it("answers another tenant's event exactly as an unknown id: 404, same body", async () => {
    const id = await post(sampleEvent({ imsOrgId: OTHER_ORG }));
    expect((await get(id)).status, 'readable with a token that covers it').to.equal(200);
    const res = await get(id, await authHeaders({ orgs: [ORG] }));
    expect(res.status).to.equal(404);
    expect(await res.json()).to.deep.equal(notFoundBody(id));
  });

  it('lets a token for every org ("*") read any tenant', async () => {
    const id = await post(sampleEvent({ imsOrgId: OTHER_ORG }));
    const res = await get(id, await authHeaders({ orgs: '*', scope: 'audit.read' }));
    expect(res.status).to.equal(200);
    expect(((await res.json()) as StoredAuditEvent).imsOrgId).to.equal(OTHER_ORG);
  });

  for (const malformed of ['not-a-uuid', '%00', '%20', 'x'.repeat(2000), "1'%20OR%20'1'='1"]) {
    it(`answers 404 for the malformed id ${JSON.stringify(malformed.slice(0, 30))}`, async () => {
      const res = await get(malformed);
      expect(res.status).to.equal(404);
      expect(await res.json()).to.deep.include({ reason: 'not_found' });
    });
  }

  it('answers 404 for a real id in upper case (ids are exact)', async () => {
    const id = await post(sampleEvent());
    expect((await get(id.toUpperCase())).status).to.equal(404);
  });

  it('answers 400 ErrorResponse for an unknown query parameter', async () => {
    const id = await post(sampleEvent());
    const res = await fetch(`${running.url}/audits/${id}?fields=all`, { headers });
    expect(res.status).to.equal(400);
    expect(await res.json()).to.deep.include({
      reason: 'bad_request',
      message: 'query.fields is not a known query parameter',
    });
  });

  describe('auth', () => {
    let id: string;
    before(async () => {
      id = await post(sampleEvent());
    });

    it('401 with a JSON string without credentials', async () => {
      const res = await fetch(`${running.url}/audits/${id}`);
      expect(res.status).to.equal(401);
      expect(await res.json()).to.equal('missing x-api-key header');
    });

    it('401 with a JSON string for a bad token', async () => {
      const res = await get(id, { ...headers, authorization: 'Bearer nope' });
      expect(res.status).to.equal(401);
      expect(await res.json()).to.be.a('string');
    });

    it('403 ErrorResponse for a token without scope audit.read', async () => {
      const res = await get(id, await authHeaders({ scope: 'audit.write' }));
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({ reason: 'forbidden', message: 'token lacks scope audit.read' });
    });
  });
});
