import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { SPEC_PATH } from '../src/http/contract';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { startService, type RunningService } from './helpers/service';

// Serving files touches no database, so SQLite alone is enough here.
describe('the served contract and docs page', () => {
  let database: TestDatabase;
  let running: RunningService;
  before(async () => {
    database = await createTestDatabase('sqlite');
    running = await startService(database.url);
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
  });

  it('GET /openapi.yaml is api/openapi.yaml, byte for byte', async () => {
    const res = await fetch(`${running.url}/openapi.yaml`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/yaml');
    const served = Buffer.from(await res.arrayBuffer());
    expect(served.equals(await readFile(SPEC_PATH))).to.equal(true);
  });

  it('GET /openapi.json deep-equals the parsed YAML', async () => {
    const res = await fetch(`${running.url}/openapi.json`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/json');
    expect(await res.json()).to.deep.equal(parseYaml(await readFile(SPEC_PATH, 'utf8')));
  });

  it('documents a relative server, so "Try it out" calls whichever host served the spec', async () => {
    const spec = (await (await fetch(`${running.url}/openapi.json`)).json()) as { servers: { url: string }[] };
    expect(spec.servers.map((server) => server.url)).to.deep.equal(['/']);
  });

  it('GET /docs is an HTML page that may load nothing from another host', async () => {
    const res = await fetch(`${running.url}/docs`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).to.include("default-src 'self'");
    expect(csp).to.not.match(/https?:|\*|unsafe-inline|unsafe-eval/);
    const html = await res.text();
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(references).to.deep.equal([
      'data:,',
      '/docs/swagger-ui.css',
      '/docs/swagger-ui-bundle.js',
      '/docs/swagger-initializer.js',
    ]);
  });

  it("serves the page's assets from the installed swagger-ui-dist package with their media types", async () => {
    const expected: [string, string, string][] = [
      ['swagger-ui.css', 'text/css; charset=utf-8', 'swagger-ui-dist/swagger-ui.css'],
      ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8', 'swagger-ui-dist/swagger-ui-bundle.js'],
    ];
    for (const [asset, contentType, file] of expected) {
      const res = await fetch(`${running.url}/docs/${asset}`);
      expect(res.status, asset).to.equal(200);
      expect(res.headers.get('content-type'), asset).to.equal(contentType);
      const installed = await readFile(createRequire(import.meta.url).resolve(file));
      expect(Buffer.from(await res.arrayBuffer()).equals(installed), asset).to.equal(true);
    }
    const initializer = await fetch(`${running.url}/docs/swagger-initializer.js`);
    expect(initializer.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    expect(await initializer.text()).to.include("url: '/openapi.json'");
  });

  it('answers an unknown docs asset, or any unknown path, with a 404 ErrorResponse', async () => {
    for (const path of [
      '/docs/index.html',
      '/docs/../package.json',
      '/docs/',
      '/docs/swagger-ui-bundle.js.map',
      '/swagger-ui.css',
    ]) {
      const res = await fetch(`${running.url}${path}`);
      expect(res.status, path).to.equal(404);
      expect(res.headers.get('content-type'), path).to.equal('application/json');
      expect(await res.json(), path).to.have.property('reason', 'not_found');
    }
  });
});
