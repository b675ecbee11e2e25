import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { parse as parseYaml } from 'yaml';
import { SPEC_PATH } from '../src/http/contract';
import { ARTIFACTS, launchChromium } from './helpers/browser';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { startService, type RunningService } from './helpers/service';
import { CLIENT_ID, mintToken } from './helpers/tokens';

// The page is what is under test, not the database: SQLite alone is enough.
describe('GET /docs in headless Chromium', function () {
  let browser: Browser | undefined;
  let database: TestDatabase | undefined;
  let running: RunningService;
  let page: Page;
  /** Every URL the page asked for, and every error it logged (a CSP violation is one). */
  const requested: string[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    browser = await launchChromium(this, 'the docs page browser test');
    database = await createTestDatabase('sqlite');
    running = await startService(database.url);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => message.type() === 'error' && pageErrors.push(message.text()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });
  after(async () => {
    await browser?.close();
    await running?.close();
    await database?.dispose();
  });

  it('renders every operation of the spec, loading nothing from another host', async () => {
    await page.goto(`${running.url}/docs`, { waitUntil: 'networkidle' });
    const spec = parseYaml(await readFile(SPEC_PATH, 'utf8')) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const operationIds = Object.values(spec.paths).flatMap((operations) =>
      Object.values(operations).map((operation) => operation.operationId),
    );
    expect(operationIds).to.include('createAuditEvent');
    for (const operationId of operationIds) {
      await page.locator(`.opblock[id$="-${operationId}"]`).waitFor({ state: 'visible' });
    }
    const createAuditEvent = page.locator('.opblock[id$="-createAuditEvent"] .opblock-summary');
    expect(await createAuditEvent.locator('.opblock-summary-method').innerText()).to.equal('POST');
    expect(await createAuditEvent.locator('.opblock-summary-path').innerText()).to.equal('/audits');

    await page.screenshot({ path: path.join(ARTIFACTS, 'docs.png'), fullPage: true });

    const origin = new URL(running.url).origin;
    expect(requested).to.include(`${origin}/openapi.json`);
    expect(requested.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin)).to.deep.equal([]);
    expect(pageErrors).to.deep.equal([]);
  });

  it('"Try it out" posts to this server with the x-api-key and bearer token given to Authorize', async () => {
    const token = await mintToken({ orgs: ['ACME@AdobeOrg'] }); // the org of the spec's example event
    await page.locator('.auth-wrapper button.authorize').click();
    // The dialog has one form per security scheme, each with its own Authorize button.
    const dialog = page.locator('.modal-ux');
    for (const [scheme, value] of [
      ['IMSClientId', CLIENT_ID],
      ['ImsBearerToken', token],
    ]) {
      const form = dialog.locator('.auth-container', { hasText: scheme });
      await form.locator('input').fill(value);
      await form.locator('button.authorize').click();
    }
    await dialog.locator('button.btn-done').first().click();

    const operation = page.locator('.opblock[id$="-createAuditEvent"]');
    await operation.locator('.opblock-summary').click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table .response .response-col_status');
    await status.waitFor();
    expect(await status.innerText()).to.equal('201');
    expect(await operation.locator('.request-url pre').innerText()).to.equal(`${running.url}/audits`);

    // The 201 body is the new event's id, a JSON string.
    const id = JSON.parse(
      await operation.locator('.live-responses-table .response-col_description pre').first().innerText(),
    ) as string;
    expect(await running.service.store.get(id)).to.deep.include({ id, imsOrgId: 'ACME@AdobeOrg' });
    await page.screenshot({ path: path.join(ARTIFACTS, 'docs-try-it-out.png'), fullPage: true });
    expect(pageErrors).to.deep.equal([]);
  });
});
