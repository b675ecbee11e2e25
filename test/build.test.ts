import Database from 'better-sqlite3';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILT, buildService, buildViewer } from '../scripts/build';
import { Worker } from 'node:worker_threads';
import { AuditStore } from '../src/store/auditStore';
import { openDatabase } from '../src/store/db';
import { parseDatabaseUrl } from '../src/config';
import type { StretchReply } from '../src/store/sqliteVerifyThread';
import { killServices, spawnService } from './helpers/child';
import { seedSqliteChain } from './helpers/seed';
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

  it('bundles the SQLite verify thread next to main.js, and it checks a stretch of a log', async function () {
    this.timeout(60_000);
    const filename = path.join(scratch, 'verify.db');
    const store = new AuditStore(openDatabase(parseDatabaseUrl(`sqlite:${filename}`)));
    await store.migrate();
    await store.close();
    seedSqliteChain(filename, ORG, 50);
    const thread = new Worker(path.resolve(path.dirname(BUILT.service), 'sqliteVerifyThread.js'), {
      workerData: { filename, timeoutMs: 5000 },
    });
    try {
      const reply = new Promise<StretchReply>((resolve) => thread.once('message', resolve));
      thread.postMessage({ id: 7, imsOrgId: ORG, from: 1, to: 50 });
      const { id, leaves, erasedEvents } = await reply;
      expect({ id, erasedEvents }).to.deep.equal({ id: 7, erasedEvents: 0 });
      const stored = new Database(filename, { readonly: true });
      const hashes = stored
        .prepare<[string], { leaf_hash: string }>(
          'SELECT leaf_hash FROM audit_events WHERE ims_org_id = ? ORDER BY seq',
        )
        .all(ORG)
        .map((row) => row.leaf_hash);
      stored.close();
      expect(Buffer.from(leaves!).toString('base64')).to.equal(
        Buffer.concat(hashes.map((h) => Buffer.from(h, 'base64'))).toString('base64'),
      );
    } finally {
      await thread.terminate();
    }
  });
});
