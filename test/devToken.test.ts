import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { DEV_TOKEN, isLoopbackRequest } from '../src/auth/devSignIn';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { sendRaw } from './helpers/rawHttp';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';

// POST /dev/token (the viewer's "Sign in as developer"): dev mode only, loopback only, read-only.
describe('POST /dev/token (dev mode sign-in)', () => {
  let database: TestDatabase;
  let dataDir: string;
  let dev: RunningService;
  let configured: RunningService;
  before(async () => {
    database = await createTestDatabase('sqlite');
    dataDir = mkdtempSync(path.join(tmpdir(), 'audit-devtoken-'));
    // No AUTH_* variable: dev mode, with its secret in DATA_DIR.
    dev = await startService(database.url, { AUTH_JWT_SECRET: '', DATA_DIR: dataDir });
    configured = await startService(database.url);
  });
  after(async () => {
    await dev?.close();
    await configured?.close();
    await database?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('mints a 15-minute audit.read token for every tenant, which reads but cannot write', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await fetch(`${dev.url}/dev/token`, { method: 'POST' });
    expect(res.status).to.equal(200);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    const body = (await res.json()) as {
      clientId: string;
      token: string;
      orgs: string;
      scope: string;
      expiresAt: string;
    };
    expect(body).to.include({ clientId: 'dev-viewer', orgs: '*', scope: 'audit.read' });
    const claims = decodeJwt(body.token);
    expect(claims).to.include({ client_id: 'dev-viewer', orgs: '*', scope: 'audit.read' });
    expect(claims.exp! - before).to.be.within(DEV_TOKEN.expiresInSeconds - 1, DEV_TOKEN.expiresInSeconds + 1);
    expect(Date.parse(body.expiresAt)).to.equal(claims.exp! * 1000);

    const headers = { 'x-api-key': body.clientId, authorization: `Bearer ${body.token}` };
    const list = await fetch(`${dev.url}/audits?imsOrgId=ANY@AdobeOrg`, { headers });
    expect(list.status).to.equal(200);
    const write = await postJson(`${dev.url}/audits`, sampleEvent(), headers);
    expect(write.status).to.equal(403);
    expect(await write.json()).to.deep.equal({ reason: 'forbidden', message: 'token lacks scope audit.write' });
  });

  it('is 404 in dev mode for a request naming another host (DNS rebinding)', async () => {
    const { port } = new URL(dev.url);
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
      const reply = await sendRaw(
        dev.url,
        `POST /dev/token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(reply.status, host).to.equal(404);
      expect(JSON.parse(reply.body), host).to.deep.equal({ reason: 'not_found', message: 'no route for /dev/token' });
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'localhost']) {
      const reply = await sendRaw(
        dev.url,
        `POST /dev/token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(reply.status, host).to.equal(200);
    }
  });

  it('accepts only loopback peers and loopback host names', () => {
    expect(isLoopbackRequest('127.0.0.1', '127.0.0.1:8080')).to.equal(true);
    expect(isLoopbackRequest('::ffff:127.0.0.1', 'localhost:8080')).to.equal(true);
    expect(isLoopbackRequest('::1', '[::1]:8080')).to.equal(true);
    expect(isLoopbackRequest('127.8.9.10', 'LOCALHOST')).to.equal(true);
    expect(isLoopbackRequest('192.168.1.20', '127.0.0.1:8080')).to.equal(false);
    expect(isLoopbackRequest('::ffff:10.0.0.1', 'localhost')).to.equal(false);
    expect(isLoopbackRequest('127.0.0.1', 'audit.example.com')).to.equal(false);
    expect(isLoopbackRequest('127.0.0.1', undefined)).to.equal(false);
    expect(isLoopbackRequest(undefined, 'localhost')).to.equal(false);
  });

  it('does not exist outside dev mode: 404 for every method, as an unknown path', async () => {
    for (const method of ['POST', 'GET', 'HEAD', 'DELETE']) {
      const res = await fetch(`${configured.url}/dev/token`, { method });
      expect(res.status, method).to.equal(404);
      if (method !== 'HEAD') {
        expect(await res.json(), method).to.deep.equal({ reason: 'not_found', message: 'no route for /dev/token' });
      }
    }
    // In dev mode the path exists (only POST): what the viewer looks at before it offers the button.
    expect((await fetch(`${dev.url}/dev/token`, { method: 'HEAD' })).status).to.equal(405);
  });
});
