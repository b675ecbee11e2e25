import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILT, buildService, buildViewer } from '../scripts/build';
import { killServices, spawnService } from './helpers/child';
import { postJson, sampleEvent } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

// `npm start` runs the esbuild bundle in dist/, not the source: this checks that bundle.
describe('The built service and viewer (npm run build, as npm start runs it)', () => {
  let scratch: string;
  before(async function () {
    this.timeout(60_000);
    await Promise.all([buildService(), buildViewer()]);
    scratch = mkdtempSync(path.join(tmpdir(), 'audit-build-'));
  });
  after(async () => {
    await killServices();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('stores and reads back an event, serves its spec and docs, and exits 0 on SIGTERM', async function () {
    this.timeout(60_000);
    const service = await spawnService(`sqlite:${path.join(scratch, 'audit.db')}`, { entry: BUILT.service });
    const headers = await authHeaders({ scope: 'audit.write audit.read' });
    const created = await postJson(`${service.url}/audits`, sampleEvent(), headers);
    expect(created.status).to.equal(201);
    const id = (await created.json()) as string;
    const read = await fetch(`${service.url}/audits/${id}`, { headers });
    expect(read.status).to.equal(200);
    expect(await read.json()).to.include({ id, imsOrgId: ORG, seq: 1 });
    // Files found from the package root, not from the bundle's own folder.
    expect((await fetch(`${service.url}/openapi.json`)).status).to.equal(200);
    expect(await (await fetch(`${service.url}/docs`)).text()).to.contain('swagger-ui');
    // The viewer's page, and the bundle npm run build made for it.
    expect(await (await fetch(`${service.url}/`)).text()).to.contain('<script type="module" src="/viewer/viewer.js">');
    const viewer = await fetch(`${service.url}/viewer/viewer.js`);
    expect(viewer.status).to.equal(200);
    expect(await viewer.text()).to.contain('Sign in as developer');
    expect(await service.kill('SIGTERM')).to.deep.equal({ code: 0, signal: null });
  });
});
