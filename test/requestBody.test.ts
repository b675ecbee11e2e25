import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { MAX_LISTED_PROBLEMS } from '../src/http/problems';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { sampleEvent, startService, type RunningService } from './helpers/service';
import { countEvents } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

interface ErrorBody {
  reason: string;
  message: string;
  details?: { path?: string; message: string }[];
}

describe('request bodies: koa-bodyparser, media types, bounded problem lists, 100-continue', () => {
  let database: TestDatabase;
  let running: RunningService;
  let headers: Record<string, string>;
  before(async () => {
    database = await createTestDatabase('sqlite');
    running = await startService(database.url);
    headers = await authHeaders();
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
  });

  const post = (path: string, body: string | Uint8Array, extra: Record<string, string> = {}) =>
    fetch(`${running.url}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', ...extra },
      body,
    });
  const event = JSON.stringify(sampleEvent());

  describe('media type and content coding', () => {
    it('takes JSON under any spelling RFC 9110 allows: case, whitespace before ";", a quoted utf-8 charset', async () => {
      for (const type of ['Application/JSON ; charset=UTF-8', 'application/json;charset="utf-8"', 'APPLICATION/JSON']) {
        const res = await post('/audits', event, { 'content-type': type });
        expect(res.status, type).to.equal(201);
      }
    });

    it('415 for another media type or a charset other than utf-8, naming it', async () => {
      const cases: [string, RegExp][] = [
        ['application/json; charset=iso-8859-1', /charset must be utf-8, got "iso-8859-1"/],
        ['text/json', /content-type must be application\/json, got "text\/json"/],
        ['application/jsonx', /got "application\/jsonx"/],
        ['application/x-www-form-urlencoded', /content-type must be application\/json/],
      ];
      for (const [type, message] of cases) {
        const res = await post('/audits', event, { 'content-type': type });
        expect(res.status, type).to.equal(415);
        const body = (await res.json()) as ErrorBody;
        expect(body.reason, type).to.equal('unsupported_media_type');
        expect(body.message, type).to.match(message);
      }
    });

    it('415 for any Content-Encoding but identity, a well-formed gzip body included', async () => {
      const before = await countEvents(database.url);
      for (const coding of ['gzip', 'GZIP', 'deflate', 'br', 'x-unknown']) {
        const res = await post('/audits', gzipSync(event), { 'content-encoding': coding });
        expect(res.status, coding).to.equal(415);
        expect(((await res.json()) as ErrorBody).message, coding).to.match(/content-encoding .* is not supported/);
      }
      expect(await countEvents(database.url)).to.equal(before);
      expect((await post('/audits', event, { 'content-encoding': 'identity' })).status).to.equal(201);
    });

    it('400 for bytes that are not UTF-8, while a sent U+FFFD is kept', async () => {
      const bytes = Buffer.concat([Buffer.from('{"action":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
      const bad = await post('/audits', bytes);
      expect(bad.status).to.equal(400);
      expect(await bad.json()).to.equal('body is not valid UTF-8');
      const ok = await post('/audits', JSON.stringify(sampleEvent({ action: 'up\uFFFDdate' })));
      expect(ok.status).to.equal(201);
      const stored = await running.service.store.get((await ok.json()) as string);
      expect(stored!.action).to.equal('up\uFFFDdate');
    });
  });

  it('400 for invalid JSON without quoting the body back', async () => {
    const res = await post('/audits', '{"action": secret-value}');
    expect(res.status).to.equal(400);
    const message = (await res.json()) as string;
    expect(message).to.match(/^body is not valid JSON: /);
    expect(message).to.not.include('secret');
  });

  describe('every problem is reported together, and the list is bounded', () => {
    it('reports a NUL character alongside the schema errors of the same event', async () => {
      const { userIdentifier: _, ...withoutUser } = sampleEvent({ action: 'a\u0000b', timestamp: 'soon' });
      const res = await post('/audits', JSON.stringify(withoutUser));
      expect(res.status).to.equal(400);
      expect(await res.json())
        .to.match(/body\.action must not contain NUL characters/)
        .and.match(/body\.timestamp must be an RFC 3339 date-time/)
        .and.match(/body\.userIdentifier is required/);
    });

    it('gives a batch its details for text and schema problems alike', async () => {
      const batch = [sampleEvent(), sampleEvent({ action: '\ud800' }), sampleEvent({ timestamp: 'x', extra: 1 })];
      const res = await post('/audits/batch', JSON.stringify(batch));
      expect(res.status).to.equal(400);
      const body = (await res.json()) as ErrorBody;
      expect(body.details!.map((d) => d.path)).to.have.members([
        'body[1].action',
        'body[2].timestamp',
        'body[2].extra',
      ]);
    });

    it('400, not 500, for a body nested 5,000 levels deep that holds a NUL, its path cut short', async () => {
      const deep = `{"action":${'['.repeat(5000)}"\\u0000"${']'.repeat(5000)}}`;
      const res = await post('/audits', deep);
      expect(res.status).to.equal(400);
      const message = (await res.json()) as string;
      expect(message)
        .to.be.a('string')
        .and.match(/^body\.action\[0\]\[0\]\[0\].*… must not contain NUL characters; /)
        .and.match(/body\.action must be string$/);
      expect(message.length).to.be.below(1000);
    });

    const withUnknownFields = (items: number) => {
      const unknown = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 0]));
      return JSON.stringify(Array.from({ length: items }, () => sampleEvent(unknown)));
    };

    it('lists the first 100 problems and counts the rest: 370 items with 40 unknown fields each', async () => {
      const before = await countEvents(database.url);
      const res = await post('/audits/batch', withUnknownFields(370));
      expect(res.status).to.equal(400);
      const raw = await res.text();
      expect(raw.length).to.be.below(20_000);
      const body = JSON.parse(raw) as ErrorBody;
      expect(body.details).to.have.length(MAX_LISTED_PROBLEMS + 1);
      expect(body.details![0]).to.deep.equal({ path: 'body[0].f0', message: 'is not a known field' });
      expect(body.details![MAX_LISTED_PROBLEMS]).to.deep.equal({
        message: `and ${370 * 40 - MAX_LISTED_PROBLEMS} more problems`,
      });
      expect(body.message).to.match(/^body\[0\]\.f0 is not a known field; .* and 14700 more problems$/);
      expect(await countEvents(database.url)).to.equal(before);
    });

    it('answers a 1 MiB batch whose every item has dozens of unknown fields with a small 400', async () => {
      const text = withUnknownFields(1000);
      expect(text.length).to.be.within(500_000, 1_048_576);
      const res = await post('/audits/batch', text);
      expect(res.status).to.equal(400);
      const raw = await res.text();
      expect(raw.length).to.be.below(1000);
      expect((JSON.parse(raw) as ErrorBody).details).to.deep.equal([
        { path: 'body[0].f0', message: 'is not a known field' },
        { path: 'body', message: 'has too many problems to look for every one (52001 values); fix this and retry' },
      ]);
    });

    it('answers a 1 MiB batch of 350,000 empty objects with a small 400, quickly', async () => {
      const text = `[${Array(349_000).fill('{}').join(',')}]`;
      const started = Date.now();
      const res = await post('/audits/batch', text);
      expect(res.status).to.equal(400);
      const body = (await res.json()) as ErrorBody;
      expect(Date.now() - started).to.be.below(2000);
      expect(body.details!.length).to.be.at.most(MAX_LISTED_PROBLEMS + 1);
      expect(body.details!.at(-1)).to.deep.equal({
        path: 'body',
        message: 'has too many problems to look for every one (349001 values); fix this and retry',
      });
    });
  });

  describe('Expect: 100-continue', () => {
    /** Sends the headers, and the body only if the server says 100 Continue; answers what happened. */
    const expectContinue = (requestHeaders: Record<string, string>, body: string) =>
      new Promise<{ continued: boolean; status: number; text: string }>((resolve, reject) => {
        let continued = false;
        const req = httpRequest(`${running.url}/audits`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', expect: '100-continue', ...requestHeaders },
        });
        req.on('continue', () => {
          continued = true;
          req.end(body);
        });
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            req.destroy();
            resolve({ continued, status: res.statusCode!, text });
          });
        });
        req.on('error', reject);
        req.flushHeaders();
      });

    it('answers a bad token with 401 and no 100 Continue, so the body is never sent', async () => {
      const result = await expectContinue({ ...headers, authorization: 'Bearer nope' }, event);
      expect(result).to.include({ continued: false, status: 401 });
    });

    it('answers a Content-Length over the limit with 413 and no 100 Continue', async () => {
      const result = await expectContinue({ ...headers, 'content-length': '70000' }, 'x'.repeat(70_000));
      expect(result).to.include({ continued: false, status: 413 });
    });

    it('ignores any other expectation rather than answer an undocumented 417', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        httpRequest(`${running.url}/audits`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', expect: 'something-else' },
        })
          .on('response', (res) => resolve(res.resume().statusCode!))
          .on('error', reject)
          .end(event);
      });
      expect(status).to.equal(201);
    });

    it('sends 100 Continue to an acceptable request, then stores its body: 201', async () => {
      const result = await expectContinue({ ...headers, 'content-length': String(Buffer.byteLength(event)) }, event);
      expect(result).to.include({ continued: true, status: 201 });
    });
  });
});
