import { request as httpRequest } from 'node:http';
import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { countEvents, withKnex } from './helpers/sql';
import { authHeaders, ORG } from './helpers/tokens';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describeEachDatabase('POST /audits', (database) => {
  let running: RunningService;
  let headers: Record<string, string>;
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders();
  });
  after(() => running?.close());

  const post = (body: unknown, extra: Record<string, string> = {}) =>
    postJson(`${running.url}/audits`, body, { ...headers, ...extra });

  describe('a valid event', () => {
    it('is stored and answered with 201, its id as a JSON string and a Location header', async () => {
      const event = sampleEvent({ tags: { region: 'eu-west-1', 'empty value': '', ünï: '✓ "quoted", comma' } });
      const res = await post(event);
      expect(res.status).to.equal(201);
      expect(res.headers.get('content-type')).to.equal('application/json');
      const id = (await res.json()) as string;
      expect(id).to.match(UUID_V7);
      expect(res.headers.get('location')).to.equal(`/audits/${id}`);
      const stored = await running.service.store.get(id);
      expect(stored).to.include({ id, seq: stored!.seq });
      const { id: _id, receivedAt, seq, leafHash, salts, ...fields } = stored!;
      expect(fields).to.deep.equal(event);
      expect(Date.parse(receivedAt)).to.be.closeTo(Date.now(), 60_000);
      expect(seq).to.be.a('number').greaterThan(0);
      expect(leafHash).to.match(/^[A-Za-z0-9+/]{43}=$/);
      expect(salts.userIdentifier).to.match(/^[A-Za-z0-9+/]{22}==$/);
    });

    it('without tags is stored without tags', async () => {
      const { tags: _tags, ...event } = sampleEvent();
      const id = (await (await post(event)).json()) as string;
      const stored = await running.service.store.get(id);
      expect(stored).to.not.have.property('tags');
      expect(stored!.action).to.equal(event.action);
    });

    it('has its timestamp normalised to UTC with millisecond precision', async () => {
      const cases: [string, string][] = [
        ['2017-10-31T05:32:04.232+05:30', '2017-10-31T00:02:04.232Z'],
        ['2017-10-31T00:02:04.232999Z', '2017-10-31T00:02:04.232Z'],
        ['2017-10-31t00:02:04z', '2017-10-31T00:02:04.000Z'],
        ['2016-02-29T23:00:00-01:00', '2016-03-01T00:00:00.000Z'],
      ];
      for (const [sent, expected] of cases) {
        const res = await post(sampleEvent({ timestamp: sent }));
        expect(res.status, sent).to.equal(201);
        expect((await running.service.store.get((await res.json()) as string))!.timestamp, sent).to.equal(expected);
      }
    });

    it('gives concurrent posts to one tenant consecutive, gapless sequence numbers', async () => {
      const org = `CONCURRENT-${database().kind}`;
      const tokenHeaders = await authHeaders({ orgs: [org] });
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          postJson(`${running.url}/audits`, sampleEvent({ imsOrgId: org, action: `a${i}` }), tokenHeaders),
        ),
      );
      expect(responses.map((r) => r.status)).to.deep.equal(Array(40).fill(201));
      const ids = (await Promise.all(responses.map((r) => r.json()))) as string[];
      const seqs = (await Promise.all(ids.map((id) => running.service.store.get(id)))).map((e) => e!.seq);
      expect(seqs.sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
    });
  });

  describe('bad input gets 400 with a message naming the problem, and stores nothing', () => {
    const without = (field: string) => {
      const event: Record<string, unknown> = sampleEvent();
      delete event[field];
      return event;
    };
    const required = ['action', 'imsOrgId', 'resource', 'service', 'source', 'timestamp', 'userIdentifier'];
    const stringFields = ['action', 'imsOrgId', 'source', 'timestamp', 'userIdentifier'];
    const cases: [string, unknown, RegExp][] = [
      ...required.map((f): [string, unknown, RegExp] => [
        `missing ${f}`,
        without(f),
        new RegExp(`body\\.${f} is required`),
      ]),
      ...stringFields.map((f): [string, unknown, RegExp] => [
        `empty ${f}`,
        sampleEvent({ [f]: '' }),
        new RegExp(`body\\.${f} (must not be empty|must be an RFC 3339)`),
      ]),
      ...required.map((f): [string, unknown, RegExp] => [
        `null ${f}`,
        sampleEvent({ [f]: null }),
        new RegExp(`body\\.${f} must be (string|object)`),
      ]),
      ...required.map((f): [string, unknown, RegExp] => [
        `number ${f}`,
        sampleEvent({ [f]: 42 }),
        new RegExp(`body\\.${f} must be (string|object)`),
      ]),
      [
        'too long action',
        sampleEvent({ action: 'x'.repeat(257) }),
        /body\.action must NOT have more than 256 characters/,
      ],
      ['resource without resourceId', sampleEvent({ resource: {} }), /body\.resource\.resourceId is required/],
      ['service without serviceId', sampleEvent({ service: {} }), /body\.service\.serviceId is required/],
      ['resource as a string', sampleEvent({ resource: 'stream/42' }), /body\.resource must be object/],
      [
        'empty resourceId',
        sampleEvent({ resource: { resourceId: '' } }),
        /body\.resource\.resourceId must not be empty/,
      ],
      [
        'unknown nested field',
        sampleEvent({ service: { serviceId: 's', name: 'x' } }),
        /body\.service\.name is not a known field/,
      ],
      ['tags with a number value', sampleEvent({ tags: { a: 1 } }), /body\.tags\.a must be string/],
      ['tags with a null value', sampleEvent({ tags: { a: null } }), /body\.tags\.a must be string/],
      ['tags as an array', sampleEvent({ tags: ['a', 'b'] }), /body\.tags must be object/],
      ['tags with an empty key', sampleEvent({ tags: { '': 'x' } }), /body\.tags key "" must not be empty/],
      [
        'too many tags',
        sampleEvent({ tags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
        /body\.tags must NOT have more than 64 properties/,
      ],
      [
        'a tag value too long',
        sampleEvent({ tags: { a: 'x'.repeat(1025) } }),
        /body\.tags\.a must NOT have more than 1024 characters/,
      ],
      ['an unknown field', sampleEvent({ severity: 'high' }), /body\.severity is not a known field/],
      [
        'an impossible date',
        sampleEvent({ timestamp: '2017-02-30T00:00:00Z' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      [
        'a date without a time',
        sampleEvent({ timestamp: '2017-10-31' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      [
        'a time without a zone',
        sampleEvent({ timestamp: '2017-10-31T00:02:04' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      ['hour 24', sampleEvent({ timestamp: '2017-10-31T24:00:00Z' }), /body\.timestamp must be an RFC 3339 date-time/],
      [
        'a leap second',
        sampleEvent({ timestamp: '2016-12-31T23:59:60Z' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      [
        'an instant before year 0001 in UTC (RFC 3339 has no negative years)',
        sampleEvent({ timestamp: '0001-01-01T00:00:00+01:00' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      [
        'an instant after year 9999 in UTC',
        sampleEvent({ timestamp: '9999-12-31T23:30:00-01:00' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      [
        'a free-text date',
        sampleEvent({ timestamp: 'Tue Oct 31 2017' }),
        /body\.timestamp must be an RFC 3339 date-time/,
      ],
      ['malformed JSON', '{"action": "update",', /body is not valid JSON/],
      ['an empty body', '', /body is empty/],
      ['an array', [sampleEvent()], /body must be object/],
      ['a number', '42', /body must be object/],
      ['null', 'null', /body must be object/],
      ['a string', '"event"', /body must be object/],
      ['a NUL character', sampleEvent({ action: 'up\u0000date' }), /body\.action must not contain NUL/],
      ['an unpaired surrogate', '{"action":"\\ud800"}', /body\.action is not well-formed Unicode/],
    ];
    for (const [name, body, message] of cases) {
      it(name, async () => {
        const before = await countEvents(database().url);
        const res = await post(body);
        expect(res.status).to.equal(400);
        const text = await res.json();
        expect(text).to.be.a('string').and.match(message);
        expect(await countEvents(database().url)).to.equal(before);
      });
    }

    it('reports every problem at once, not only the first', async () => {
      const res = await post({ ...sampleEvent({ action: '', timestamp: 'yesterday' }), extra: 1 });
      const message = (await res.json()) as string;
      expect(message)
        .to.match(/body\.action/)
        .and.match(/body\.timestamp/)
        .and.match(/body\.extra/);
    });
  });

  describe('bodies the server refuses to read', () => {
    it('415 for a non-JSON content type', async () => {
      const res = await fetch(`${running.url}/audits`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'text/plain' },
        body: JSON.stringify(sampleEvent()),
      });
      expect(res.status).to.equal(415);
      expect(await res.json()).to.deep.include({ reason: 'unsupported_media_type' });
    });

    it('415 without a content type', async () => {
      const res = await fetch(`${running.url}/audits`, {
        method: 'POST',
        headers,
        body: new Blob([JSON.stringify(sampleEvent())]),
      });
      expect(res.status).to.equal(415);
    });

    it('413 for a declared length over the limit, before the body is read', async () => {
      const before = await countEvents(database().url);
      const big = sampleEvent({ tags: { a: 'x'.repeat(1000) }, userIdentifier: 'u'.repeat(70_000) });
      const res = await post(big);
      expect(res.status).to.equal(413);
      expect(await res.json()).to.deep.equal({
        reason: 'payload_too_large',
        message: 'request body exceeds the limit of 65536 bytes',
      });
      expect(await countEvents(database().url)).to.equal(before);
    });

    it('413 for a chunked body that grows past the limit', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${running.url}/audits`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        });
        req.on('response', (res) => resolve(res.statusCode!));
        req.on('error', reject);
        const chunk = '{"a":"' + 'x'.repeat(16 * 1024);
        const write = (n: number) => {
          if (n === 0) return req.end('"}');
          if (!req.write(chunk)) req.once('drain', () => write(n - 1));
          else setImmediate(() => write(n - 1));
        };
        write(8);
      });
      expect(status).to.equal(413);
    });
  });

  describe('credentials', () => {
    const expect401 = async (
      requestHeaders: Record<string, string>,
      message: RegExp,
      body: unknown = sampleEvent(),
    ) => {
      const before = await countEvents(database().url);
      const res = await postJson(`${running.url}/audits`, body, requestHeaders);
      expect(res.status).to.equal(401);
      expect(await res.json())
        .to.be.a('string')
        .and.match(message);
      expect(await countEvents(database().url)).to.equal(before);
    };

    it('401 without any credential', () => expect401({}, /missing x-api-key/));
    it('401 with only the client id', () => expect401({ 'x-api-key': headers['x-api-key'] }, /missing Authorization/));
    it('401 with only the token', () => expect401({ authorization: headers.authorization }, /missing x-api-key/));
    it('401 for a non-Bearer scheme', () =>
      expect401({ 'x-api-key': 'test-client', authorization: 'Basic dXNlcjpwYXNz' }, /must be "Bearer <JWT>"/));
    it('401 for a token that is not a JWT', () =>
      expect401({ 'x-api-key': 'test-client', authorization: 'Bearer not-a-jwt' }, /token is malformed/));
    it('401 for an expired token', async () => expect401(await authHeaders({ expiresIn: -120 }), /token has expired/));
    it('401 for a token signed with another secret', async () =>
      expect401(
        await authHeaders({ secret: 'another-secret-that-is-also-32-bytes-long' }),
        /signature does not verify/,
      ));
    it('401 for an unsigned (alg: none) token', async () => {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const token = `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ client_id: 'test-client', orgs: [ORG], scope: 'audit.write', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
      await expect401(
        { 'x-api-key': 'test-client', authorization: `Bearer ${token}` },
        /token (algorithm|is malformed)/,
      );
    });
    it('401 for a token without exp', async () => {
      const { SignJWT } = await import('jose');
      const { TEST_SECRET } = await import('./helpers/tokens');
      const token = await new SignJWT({ client_id: 'test-client', orgs: [ORG], scope: 'audit.write' })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(TEST_SECRET));
      await expect401({ 'x-api-key': 'test-client', authorization: `Bearer ${token}` }, /claim "exp"/);
    });
    it('401 when x-api-key is not the token client_id', async () =>
      expect401({ ...(await authHeaders()), 'x-api-key': 'someone-else' }, /does not match the token's client_id/));
    it('401 before the body is even parsed', () => expect401({}, /missing x-api-key/, '{not json'));

    it('403 for a token that does not cover the org, storing nothing', async () => {
      const before = await countEvents(database().url);
      const res = await post(sampleEvent({ imsOrgId: 'ORG-B@AdobeOrg' }));
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({
        reason: 'forbidden',
        message: 'token does not cover imsOrgId "ORG-B@AdobeOrg"',
      });
      expect(await countEvents(database().url)).to.equal(before);
    });

    it('403 for a token without scope audit.write', async () => {
      const res = await postJson(`${running.url}/audits`, sampleEvent(), await authHeaders({ scope: 'audit.read' }));
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.equal({ reason: 'forbidden', message: 'token lacks scope audit.write' });
    });

    it('accepts a comma-separated scope and a wildcard org', async () => {
      const res = await postJson(
        `${running.url}/audits`,
        sampleEvent({ imsOrgId: 'ANY-ORG' }),
        await authHeaders({ orgs: '*', scope: 'audit.read,audit.write' }),
      );
      expect(res.status).to.equal(201);
    });
  });

  describe('routing and health', () => {
    it('404 ErrorResponse for an unknown path', async () => {
      const res = await fetch(`${running.url}/nope`);
      expect(res.status).to.equal(404);
      expect(await res.json()).to.deep.include({ reason: 'not_found' });
    });

    it('405 ErrorResponse with Allow for a known path and another method', async () => {
      const res = await fetch(`${running.url}/health/live`, { method: 'DELETE' });
      expect(res.status).to.equal(405);
      expect(res.headers.get('allow')).to.equal('GET, HEAD');
      expect(await res.json()).to.deep.include({ reason: 'method_not_allowed' });
      const head = await fetch(`${running.url}/health/live`, { method: 'HEAD' });
      expect(head.status).to.equal(200);
      expect(await head.text()).to.equal('');
    });

    it('answers liveness and readiness without credentials, still serving after all the bad input', async () => {
      for (const path of ['/health/live', '/health/ready']) {
        const res = await fetch(`${running.url}${path}`);
        expect(res.status, path).to.equal(200);
        expect(await res.json()).to.deep.equal({ status: 'ok' });
      }
      expect((await post(sampleEvent())).status).to.equal(201);
    });

    it('echoes a valid x-request-id and makes one up otherwise', async () => {
      const echoed = await fetch(`${running.url}/health/live`, { headers: { 'x-request-id': 'abc-123' } });
      expect(echoed.headers.get('x-request-id')).to.equal('abc-123');
      const generated = await fetch(`${running.url}/health/live`, {
        headers: { 'x-request-id': 'bad id\twith spaces' },
      });
      expect(generated.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    });
  });

  it('keeps every row: the database holds exactly the acknowledged events', async () => {
    const acknowledged = await withKnex(database().url, (db) => db('audit_events').pluck<string[]>('id'));
    for (const id of acknowledged) expect(await running.service.store.get(id)).to.have.property('id', id);
  });
});
