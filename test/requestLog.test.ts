import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { captureLogs, type CapturedLogs } from './helpers/logs';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, CLIENT_ID, mintToken, ORG } from './helpers/tokens';

describeEachDatabase('request logs and request ids', (database) => {
  let running: RunningService;
  let logs: CapturedLogs;
  before(async () => {
    logs = captureLogs('trace'); // the most verbose level: nothing secret may appear even there
    running = await startService(database().url, {}, logs.logger);
  });
  after(() => running?.close());

  const requestLine = (requestId: string) => {
    const lines = logs.lines().filter((line) => line.msg === 'request' && line.requestId === requestId);
    expect(lines, `request lines for ${requestId}`).to.have.length(1);
    return lines[0];
  };

  it('writes one JSON line per request with its id, operation, status, duration, client and org', async () => {
    const res = await postJson(`${running.url}/audits`, sampleEvent(), {
      ...(await authHeaders()),
      'x-request-id': 'trace-abc-123',
    });
    expect(res.status).to.equal(201);
    expect(res.headers.get('x-request-id')).to.equal('trace-abc-123');
    const line = requestLine('trace-abc-123');
    expect(line).to.deep.include({
      level: 30,
      method: 'POST',
      path: '/audits',
      operationId: 'createAuditEvent',
      status: 201,
      client_id: CLIENT_ID,
      org: ORG,
    });
    expect(line.durationMs).to.be.a('number').at.least(0).and.below(60_000);
  });

  it('generates a request id when none (or a malformed one) is sent, and logs that one', async () => {
    for (const sent of [undefined, 'x'.repeat(129), 'two words']) {
      const res = await fetch(`${running.url}/health/live`, { headers: sent ? { 'x-request-id': sent } : {} });
      const id = res.headers.get('x-request-id')!;
      expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(requestLine(id)).to.deep.include({ operationId: 'getLiveness', status: 200 });
    }
  });

  it('logs refusals with their reason, and requests that match no operation as "none"', async () => {
    const refused = await postJson(
      `${running.url}/audits`,
      sampleEvent({ imsOrgId: 'ORG-B@AdobeOrg' }),
      await authHeaders(),
    );
    expect(requestLine(refused.headers.get('x-request-id')!)).to.deep.include({
      status: 403,
      reason: 'forbidden',
      client_id: CLIENT_ID,
      org: 'ORG-B@AdobeOrg',
    });
    const unknown = await fetch(`${running.url}/nope`);
    expect(requestLine(unknown.headers.get('x-request-id')!)).to.deep.include({ operationId: 'none', status: 404 });
  });

  it('never logs an event payload', async () => {
    const marker = 'payload-marker-7f3a';
    const res = await postJson(
      `${running.url}/audits`,
      sampleEvent({ userIdentifier: marker, resource: { resourceId: marker }, tags: { note: marker } }),
      await authHeaders(),
    );
    expect(res.status).to.equal(201);
    expect(logs.text()).to.include(res.headers.get('x-request-id')!).and.not.include(marker);
  });

  it('logs a 5xx once with its stack and request id, and tells the client nothing of it', async () => {
    const store = running.service.store;
    store.commit = async () => {
      throw new Error('disk on fire');
    };
    try {
      const res = await postJson(`${running.url}/audits`, sampleEvent(), await authHeaders());
      expect(res.status).to.equal(500);
      expect(await res.json()).to.deep.equal({ reason: 'internal_error', message: 'an unexpected error occurred' });
      const requestId = res.headers.get('x-request-id')!;
      const errors = logs.lines().filter((line) => line.level === 50 && line.requestId === requestId);
      expect(errors).to.have.length(1);
      expect((errors[0].err as { stack: string }).stack).to.match(/^Error: disk on fire\n\s+at /);
      expect(requestLine(requestId)).to.deep.include({ status: 500, reason: 'internal_error' });
    } finally {
      delete (store as Partial<typeof store>).commit; // back to the prototype's method
    }
  });

  it('never writes a token or an Authorization header, whatever the outcome', async () => {
    const token = await mintToken();
    const signature = token.split('.')[2];
    const credentials = { 'x-api-key': CLIENT_ID, authorization: `Bearer ${token}` };
    const url = `${running.url}/audits`;
    await postJson(url, sampleEvent(), credentials); // 201
    await postJson(url, sampleEvent({ timestamp: 'never' }), credentials); // 400
    await postJson(url, sampleEvent({ imsOrgId: 'ORG-B@AdobeOrg' }), credentials); // 403
    await postJson(url, sampleEvent(), { ...credentials, 'x-api-key': 'someone-else' }); // 401
    await postJson(url, sampleEvent(), { 'x-api-key': CLIENT_ID, authorization: `Bearer ${token}x` }); // 401
    await postJson(url, '{broken', credentials); // 400
    // An error that carries the request's headers, as HTTP client errors do, is logged without them.
    const store = running.service.store;
    store.commit = async () => {
      throw Object.assign(new Error('upstream refused'), { headers: { authorization: `Bearer ${token}` }, token });
    };
    try {
      expect((await postJson(url, sampleEvent(), credentials)).status).to.equal(500);
    } finally {
      delete (store as Partial<typeof store>).commit;
    }
    const text = logs.text();
    expect(text).to.not.include(signature);
    expect(text).to.not.match(/bearer\s+ey/i);
    expect(text).to.include('upstream refused');
    const failure = logs
      .lines()
      .find((line) => (line.err as { message?: string } | undefined)?.message === 'upstream refused');
    expect(failure?.err).to.have.all.keys('type', 'message', 'stack');
  });
});
