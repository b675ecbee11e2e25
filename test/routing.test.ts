import { expect } from 'chai';
import { Contract } from '../src/http/contract';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { captureLogs, type CapturedLogs } from './helpers/logs';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

/** A value for each path parameter the spec has, so that every template can be requested. */
const SAMPLE_PARAMS: Record<string, string> = { id: '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a', asset: 'swagger-ui.css' };

describe('routing: @koa/router built from the spec', () => {
  let database: TestDatabase;
  let running: RunningService;
  let logs: CapturedLogs;
  let contract: Contract;
  let headers: Record<string, string>;
  before(async () => {
    database = await createTestDatabase('sqlite');
    logs = captureLogs('info');
    running = await startService(database.url, {}, logs.logger);
    contract = await Contract.load();
    headers = await authHeaders({ orgs: '*' });
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
  });

  const operationOf = (res: Response) => {
    const line = logs.lines().find((l) => l.msg === 'request' && l.requestId === res.headers.get('x-request-id'));
    return line?.operationId;
  };
  const send = (method: string, path: string, extra: RequestInit = {}) =>
    fetch(`${running.url}${path}`, { method, headers, ...extra });
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  it('routes every operation in the spec to its handler, by method and path', async () => {
    expect(contract.routes).to.have.length.greaterThan(10);
    expect(contract.routes.filter((route) => route.devOnly).map((route) => route.operationId)).to.deep.equal([
      'createDevToken',
    ]);
    for (const route of contract.routes) {
      const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => SAMPLE_PARAMS[name]);
      const res = await send(route.method, path, route.acceptsJsonBody ? { body: '[]' } : {});
      await res.arrayBuffer();
      await until(() => operationOf(res) !== undefined);
      // This service is not in dev mode: a dev-only operation is no route at all.
      if (route.devOnly) expect(res.status, `${route.method} ${path}`).to.equal(404);
      expect(operationOf(res), `${route.method} ${path}`).to.equal(route.devOnly ? 'none' : route.operationId);
    }
  });

  it('404 ErrorResponse for an unknown path, a trailing slash, or another letter case', async () => {
    for (const path of ['/nope', '/audits/', '/Audits', '/health/live/', '/docs/a/b', '/index.html', '/dev/token']) {
      const res = await send('GET', path);
      expect(res.status, path).to.equal(404);
      expect(res.headers.get('allow'), path).to.equal(null);
      expect(await res.json(), path).to.deep.equal({ reason: 'not_found', message: `no route for ${path}` });
    }
  });

  it('405 ErrorResponse with Allow for another method on a known path, OPTIONS and unknown methods included', async () => {
    const cases: [string, string, string][] = [
      ['DELETE', '/audits', 'GET, HEAD, POST'],
      ['PUT', '/audits/batch', 'POST'],
      ['OPTIONS', '/health/live', 'GET, HEAD'],
      ['PATCH', '/audits/abc', 'GET, HEAD'],
      ['PROPFIND', '/metrics', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await send(method, path);
      expect(res.status, `${method} ${path}`).to.equal(405);
      expect(res.headers.get('allow'), `${method} ${path}`).to.equal(allow);
      expect(await res.json()).to.deep.equal({
        reason: 'method_not_allowed',
        message: `${method} is not allowed on ${path}`,
      });
    }
  });

  it('lets a literal path win over a template: GET /audits/batch is 405 (Allow: POST), not event "batch"', async () => {
    const res = await send('GET', '/audits/batch');
    expect(res.status).to.equal(405);
    expect(res.headers.get('allow')).to.equal('POST');
    const head = await send('HEAD', '/audits/batch');
    expect(head.status).to.equal(405);
    for (const path of [`/audits/export?imsOrgId=${ORG}`, `/audits/verify?imsOrgId=${ORG}`]) {
      const ok = await send('GET', path);
      await ok.arrayBuffer();
      expect(ok.status, path).to.equal(200);
    }
  });

  it('answers HEAD for every GET: the same status and headers, no body', async () => {
    for (const route of contract.routes.filter((r) => r.method === 'GET')) {
      const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => SAMPLE_PARAMS[name]);
      const query = route.path.startsWith('/audits') && !route.path.includes('{') ? `?imsOrgId=${ORG}` : '';
      const [get, head] = await Promise.all([send('GET', path + query), send('HEAD', path + query)]);
      // An event stream never ends: its headers are compared and its body let go.
      if (get.headers.get('content-type')?.startsWith('text/event-stream')) await get.body?.cancel();
      else await get.arrayBuffer();
      expect(head.status, path).to.equal(get.status);
      const comparable = (res: Response) =>
        [...res.headers].filter(
          // Framing, which a HEAD reply may leave out (RFC 9110, 9.3.2), and per-response fields.
          ([name]) =>
            !['date', 'x-request-id', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name),
        );
      expect(comparable(head), path).to.deep.equal(comparable(get));
      // A streamed body's length is known only by sending it; the metrics change between the two.
      if (head.headers.has('content-length') && route.operationId !== 'getMetrics') {
        expect(head.headers.get('content-length'), path).to.equal(get.headers.get('content-length'));
      }
      expect(await head.text(), path).to.equal('');
    }
  });

  it('decodes percent-encoded path parameters, and refuses invalid percent-encoding with 400', async () => {
    const id = (await (await postJson(`${running.url}/audits`, sampleEvent(), headers)).json()) as string;
    const encoded = [...id].map((char) => `%${char.charCodeAt(0).toString(16)}`).join('');
    const res = await send('GET', `/audits/${encoded}`);
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { id: string }).id).to.equal(id);

    const unknown = await send('GET', '/audits/%61bc%2Fd');
    expect(unknown.status).to.equal(404);
    expect(((await unknown.json()) as { message: string }).message).to.equal('audit event "abc/d" not found');

    for (const path of ['/audits/%zz', '/audits/%E0%A4%A', '/docs/%ff']) {
      const bad = await send('GET', path);
      expect(bad.status, path).to.equal(400);
      expect(await bad.json()).to.deep.include({ reason: 'bad_request' });
    }
  });

  it('ignores the query string on operations without query parameters, and refuses unknown ones elsewhere', async () => {
    for (const path of [
      '/health/live?ts=1',
      '/health/ready?ts=1',
      '/metrics?x=1',
      '/openapi.json?v=2',
      '/openapi.yaml?v=2',
      '/docs?x',
      '/docs/swagger-ui.css?v=5',
    ]) {
      const res = await fetch(`${running.url}${path}`);
      await res.arrayBuffer();
      expect(res.status, path).to.equal(200);
    }
    for (const path of [`/audits?imsOrgId=${ORG}&ts=1`, `/audits/export?imsOrgId=${ORG}&ts=1`, '/audits/abc?ts=1']) {
      const res = await send('GET', path);
      expect(res.status, path).to.equal(400);
      expect(((await res.json()) as { message: string }).message, path).to.match(
        /query\.ts is not a known query parameter/,
      );
    }
  });
});
