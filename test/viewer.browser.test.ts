import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildViewer } from '../scripts/build';
import { loadOrCreateDevSecret } from '../src/auth/devSecret';
import { VIEWER_CSP } from '../src/docs/viewerSite';
import { parseCsv } from './helpers/csv';
import { ARTIFACTS, launchChromium } from './helpers/browser';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { withKnex } from './helpers/sql';
import { TAMPERINGS } from './helpers/tamperings';
import { mintToken, ORG } from './helpers/tokens';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** A tenant of 5 events, for verifying and then tampering with its event 3. */
const SMALL_ORG = 'SMALL@AdobeOrg';
const CLIENT = 'viewer-test';

interface EventLike {
  id: string;
  action: string;
  imsOrgId: string;
  userIdentifier: string;
}

// The page is what is under test, not the database: SQLite alone is enough. The service runs in
// dev mode (no AUTH_* variable), as `npm start` does by default; a second one, configured with a
// secret, shows the dev sign-in absent.
describe('The viewer (GET /) in headless Chromium', function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let running: RunningService;
  let configured: RunningService;
  let secret: string;
  let context: BrowserContext;
  let page: Page;
  /** Every URL any page asked for, and every error it logged (a CSP violation is one). */
  const requested: string[] = [];
  const pageErrors: string[] = [];
  const shot = (target: Page, name: string) => target.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  const post = async (events: object[], org = ORG) => {
    const token = await mintToken({ secret, clientId: CLIENT, orgs: [org], scope: 'audit.write' });
    const res = await postJson(`${running.url}/audits/batch`, events, {
      'x-api-key': CLIENT,
      authorization: `Bearer ${token}`,
    });
    expect(res.status).to.equal(201);
    return ((await res.json()) as { ids: string[] }).ids;
  };
  const watch = (target: Page) => {
    target.on('request', (request) => requested.push(request.url()));
    target.on('console', (message) => message.type() === 'error' && pageErrors.push(message.text()));
    target.on('pageerror', (error) => pageErrors.push(error.message));
  };
  const newPage = async (viewport = DESKTOP) => {
    const created = await browser!.newContext({ viewport, acceptDownloads: true });
    const opened = await created.newPage();
    watch(opened);
    return { context: created, page: opened };
  };
  const signIn = async (target: Page, orgs: string[] | string = [ORG, SMALL_ORG], expiresIn = 600) => {
    const token = await mintToken({ secret, clientId: CLIENT, orgs, scope: 'audit.read', expiresIn });
    await target.getByLabel('Client id (x-api-key)').fill(CLIENT);
    await target.getByLabel('Bearer token').fill(token);
    await target.getByRole('button', { name: 'Sign in', exact: true }).click();
    return token;
  };
  const rows = (target: Page) => target.locator('table tbody tr');
  const rowTexts = async (target: Page) => rows(target).allInnerTexts();
  /** The DOM, as the few in-page functions below see it (the tests' types have no DOM). */
  type InPage = {
    document: { documentElement: { scrollWidth: number }; cookie: string };
    localStorage: { length: number };
    sessionStorage: { length: number };
    getComputedStyle(element: unknown): { display: string };
  };
  /** Waits until the table has `count` rows (waitForFunction would evaluate text, which the CSP forbids). */
  const waitRows = async (target: Page, count: number) => {
    const deadline = Date.now() + 20_000;
    let seen = -1;
    while (Date.now() < deadline) {
      seen = await rows(target).count();
      if (seen === count) return;
      await target.waitForTimeout(50);
    }
    throw new Error(`expected ${count} rows, saw ${seen}`);
  };
  const activeId = (target: Page) => target.locator(':focus').getAttribute('id');
  const scrollWidth = (target: Page) =>
    target.evaluate(() => (globalThis as unknown as InPage).document.documentElement.scrollWidth);

  before(async function () {
    browser = await launchChromium(this, "the viewer's browser test");
    await buildViewer();
    database = await createTestDatabase('sqlite');
    dataDir = mkdtempSync(path.join(tmpdir(), 'audit-viewer-'));
    running = await startService(database.url, { AUTH_JWT_SECRET: '', DATA_DIR: dataDir });
    configured = await startService(database.url);
    secret = loadOrCreateDevSecret(path.join(dataDir, 'dev-jwt-secret'));
    // 40 updates and 20 deletes, a second apart, by three users; and the small tenant's 5.
    await post(
      Array.from({ length: 60 }, (_, i) =>
        sampleEvent({
          imsOrgId: ORG,
          action: i % 3 === 2 ? 'delete' : 'update',
          userIdentifier: `user${i % 3}@example.com`,
          resource: { resourceId: `doc/${i}` },
          timestamp: new Date(Date.UTC(2026, 10, 1, 12, 0, i)).toISOString(),
          tags: { region: i % 2 ? 'eu-west-1' : 'us-east-1' },
        }),
      ),
    );
    await post(
      Array.from({ length: 5 }, (_, i) =>
        sampleEvent({ imsOrgId: SMALL_ORG, action: `step-${i + 1}`, timestamp: `2026-11-02T00:00:0${i}.000Z` }),
      ),
      SMALL_ORG,
    );
    ({ context, page } = await newPage());
  });
  after(async () => {
    await browser?.close();
    await running?.close();
    await configured?.close();
    await database?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('is served with a strict CSP, its assets from this server', async () => {
    const res = await fetch(`${running.url}/`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).to.equal(VIEWER_CSP);
    expect(VIEWER_CSP).to.contain("script-src 'self'").and.contain("connect-src 'self'").and.not.contain('unsafe');
    const script = await fetch(`${running.url}/viewer/viewer.js`);
    expect(script.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    expect(await script.text()).to.contain('Verify log');
    expect((await fetch(`${running.url}/viewer/nothing.js`)).status).to.equal(404);
  });

  it('signs in with a pasted token; filters, pages forward and back, and opens a detail panel by keyboard', async () => {
    await page.goto(`${running.url}/`);
    const token = await signIn(page);
    await page.getByText(`Signed in as ${CLIENT}`).waitFor();
    // The token's orgs are offered; the first is opened.
    expect(await page.getByLabel('Tenant (imsOrgId)').locator('option').allInnerTexts()).to.deep.equal([
      ORG,
      SMALL_ORG,
    ]);
    await waitRows(page, 25);

    await page.getByLabel('Action', { exact: true }).fill('update');
    await page.getByLabel('Tags (key:value, one a line)').fill('region:eu-west-1');
    await page.getByRole('button', { name: 'Show events' }).click();
    // 40 updates, of which the odd-numbered ones are in eu-west-1: 20, on one page.
    await waitRows(page, 20);
    for (const text of await rowTexts(page)) expect(text).to.contain('update');
    let hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
    expect(hash.get('org')).to.equal(ORG);
    expect(hash.get('action')).to.equal('update');
    expect(hash.getAll('tag')).to.deep.equal(['region:eu-west-1']);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).to.equal(true);

    // Without the tag: 40 updates, 25 and 15.
    await page.getByLabel('Tags (key:value, one a line)').fill('');
    await page.getByRole('button', { name: 'Show events' }).click();
    await waitRows(page, 25);
    const first = await rowTexts(page);
    expect(first[0]).to.contain('2026-11-01T12:00:58.000Z'); // newest first
    await page.getByRole('button', { name: 'Next page' }).click();
    await waitRows(page, 15);
    const second = await rowTexts(page);
    expect(second.some((text) => first.includes(text))).to.equal(false);
    hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
    expect(hash.get('cursor')).to.be.a('string').and.not.equal('');
    expect(await page.getByRole('heading', { name: /page 2/ }).count()).to.equal(1);
    await shot(page, 'viewer-page-2.png');

    // A shared link opens the same view, in a context of its own (after its own sign-in).
    const shared = await newPage();
    await shared.page.goto(page.url());
    await signIn(shared.page);
    await waitRows(shared.page, 15);
    expect(await rowTexts(shared.page)).to.deep.equal(second);
    await shared.context.close();

    await page.getByRole('button', { name: 'Previous page' }).click();
    await waitRows(page, 25);
    expect(await rowTexts(page)).to.deep.equal(first);
    // The browser's Back and Forward work too (Previous was a step of the history).
    await page.goBack();
    await waitRows(page, 15);
    await page.goForward();
    await waitRows(page, 25);

    // Keyboard: focus the first row, move down, Enter opens the detail panel, Escape closes it.
    await rows(page).first().focus();
    await page.keyboard.press('ArrowDown');
    const focusedId = await activeId(page);
    expect(focusedId).to.match(/^row-/);
    await page.keyboard.press('Enter');
    const detail = page.getByRole('complementary');
    await detail.getByRole('heading', { name: /^Event \d+$/ }).waitFor();
    const shown = JSON.parse(await detail.locator('pre.json').innerText()) as EventLike;
    expect(`row-${shown.id}`).to.equal(focusedId);
    expect(shown).to.include({ imsOrgId: ORG, action: 'update' });
    expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get('event')).to.equal(shown.id);
    await shot(page, 'viewer-detail.png');
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
    expect(await activeId(page)).to.equal(focusedId);

    // The token is in memory only: not in the address, the storages, or a cookie.
    const kept = await page.evaluate(() => ({
      local: (globalThis as unknown as InPage).localStorage.length,
      session: (globalThis as unknown as InPage).sessionStorage.length,
      cookie: (globalThis as unknown as InPage).document.cookie,
    }));
    expect(kept).to.deep.equal({ local: 0, session: 0, cookie: '' });
    expect(page.url()).to.not.contain(token);
    expect(requested.some((url) => url.includes(token))).to.equal(false);
  });

  it('verifies an event in the page, and shows the failure once its row is tampered with', async () => {
    await page.getByLabel('Tenant (imsOrgId)').selectOption(SMALL_ORG);
    await page.getByLabel('Action', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Show events' }).click();
    await waitRows(page, 5);
    await rows(page).filter({ hasText: 'step-3' }).click();
    const detail = page.getByRole('complementary');
    await detail.getByRole('heading', { name: 'Event 3' }).waitFor();

    await detail.getByRole('button', { name: 'Verify' }).click();
    const outcome = detail.getByRole('status', { name: 'Event verification' });
    await outcome.waitFor();
    const keys = (await (await fetch(`${running.url}/audits/checkpoint/key`)).text()).trim();
    const [keyName, keyId] = keys.split('+');
    expect(await outcome.innerText()).to.match(
      new RegExp(
        `^Verified: event 3 is in the log of ${SMALL_ORG}, against the checkpoint of size 5 signed with key ${keyName}\\+${keyId}\\.`,
      ),
    );
    expect(await outcome.getAttribute('class')).to.contain('ok');
    await shot(page, 'viewer-verified.png');
    await page.screenshot({ path: path.join(ARTIFACTS, 'viewer.png') }); // 1280×800: the README's (docs/viewer.png)

    // An edited field of event 3, in SQL (test/helpers/tamperings.ts): the page recomputes the leaf hash.
    const [name, tamper] = TAMPERINGS[0];
    expect(name).to.equal('an edited field');
    await withKnex(database!.url, (db) => tamper(db, SMALL_ORG));
    await detail.getByRole('button', { name: 'Verify' }).click();
    await detail.locator('.outcome', { hasText: 'failed' }).waitFor();
    expect(await outcome.innerText()).to.equal(
      "Verification failed: the event's content does not match its leaf hash: it was changed after it was logged.",
    );
    expect(await outcome.getAttribute('class')).to.contain('error');
    // The panel shows the event as the server serves it now.
    expect(JSON.parse(await detail.locator('pre.json').innerText())).to.include({ action: 'deleted-nothing' });
    expect(await rows(page).filter({ hasText: 'deleted-nothing' }).count()).to.equal(1);
    await shot(page, 'viewer-tampered.png');
  });

  it('"Verify log" checks the checkpoint, then its consistency with the one seen before', async () => {
    await page.getByLabel('Tenant (imsOrgId)').selectOption(ORG);
    await page.getByRole('button', { name: 'Show events' }).click();
    await waitRows(page, 25);
    await page.getByRole('button', { name: 'Verify log' }).click();
    const outcome = page.getByRole('status', { name: 'Log verification' });
    await outcome.waitFor();
    expect(await outcome.innerText()).to.match(new RegExp(`^Verified: the latest checkpoint of ${ORG} has 60 events`));
    expect(await outcome.innerText()).to.contain('first checkpoint of this tenant');

    await post([sampleEvent({ imsOrgId: ORG }), sampleEvent({ imsOrgId: ORG })]);
    await page.getByRole('button', { name: 'Verify log' }).click();
    await page.locator('.outcome', { hasText: 'Consistent' }).waitFor();
    expect(await outcome.innerText()).to.match(/has 62 events/);
    expect(await outcome.innerText()).to.match(
      /Consistent with the checkpoint of size 60 .*only grew \(2 events added\)/,
    );
  });

  it('exports NDJSON and CSV with the current filters, and the files hold exactly the matches', async () => {
    await page.getByLabel('Action', { exact: true }).fill('delete');
    await page.getByLabel('User', { exact: true }).fill('user2@example.com');
    await page.getByRole('button', { name: 'Show events' }).click();
    await waitRows(page, 20);

    const [ndjson] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export NDJSON' }).click(),
    ]);
    expect(ndjson.suggestedFilename()).to.equal('audit-events.ndjson');
    const lines = readFileSync(await ndjson.path(), 'utf8')
      .trim()
      .split('\n');
    const events = lines.map((line) => JSON.parse(line) as EventLike & { timestamp: string });
    expect(events).to.have.length(20);
    for (const event of events) {
      expect(event).to.include({ imsOrgId: ORG, action: 'delete', userIdentifier: 'user2@example.com' });
    }
    // Oldest first, as the export streams them.
    expect(events.map((event) => event.timestamp)).to.deep.equal(events.map((event) => event.timestamp).sort());

    const [csv] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    expect(csv.suggestedFilename()).to.equal('audit-events.csv');
    const [header, ...records] = parseCsv(readFileSync(await csv.path(), 'utf8'));
    expect(records).to.have.length(20);
    const action = header.indexOf('action');
    expect(action).to.be.greaterThan(-1);
    expect(records.map((record) => record[action])).to.deep.equal(Array(20).fill('delete'));
    expect(new Set(records.map((record) => record[header.indexOf('id')]))).to.deep.equal(
      new Set(events.map((event) => event.id)),
    );
    await page.getByText('Downloaded audit-events.csv').waitFor();
  });

  it('"Live" shows an event posted while the page is open (and only those matching the filters)', async () => {
    const liveToggle = page.getByRole('button', { name: 'Live', exact: true });
    expect(await liveToggle.getAttribute('aria-pressed')).to.equal('false');
    await liveToggle.click();
    expect(await liveToggle.getAttribute('aria-pressed')).to.equal('true');
    await page.getByText('Following new events.').waitFor();
    const before = await rows(page).count();
    const [matching] = await post([
      sampleEvent({
        imsOrgId: ORG,
        action: 'delete',
        userIdentifier: 'user2@example.com',
        timestamp: '2026-12-01T00:00:00Z',
      }),
      sampleEvent({ imsOrgId: ORG, action: 'update', userIdentifier: 'user2@example.com' }),
    ]);
    const liveRow = page.locator(`#row-${matching}`);
    await liveRow.waitFor();
    expect(await liveRow.getAttribute('class')).to.contain('live');
    expect(await liveRow.innerText()).to.contain('new');
    await page.waitForTimeout(300); // the second event, which does not match, had its chance to appear
    expect(await rows(page).count()).to.equal(before + 1);
    await shot(page, 'viewer-live.png');
    await liveToggle.click();
    expect(await liveToggle.getAttribute('aria-pressed')).to.equal('false');
    await page.getByText('Following new events.').waitFor({ state: 'detached' });
  });

  it('says what is missing on 403, retries on 503, and asks to sign in again on 401', async () => {
    // A tenant the token does not cover, from an address someone shared.
    const other = await newPage();
    await other.page.goto(`${running.url}/#org=${encodeURIComponent('OTHER@AdobeOrg')}`);
    await signIn(other.page, [ORG]);
    await other.page.getByRole('alert').waitFor();
    expect(await other.page.getByRole('alert').innerText()).to.equal(
      'Your token does not cover the tenant OTHER@AdobeOrg. Ask for a token that has it, or pick another tenant.',
    );
    await other.context.close();
    // A token without audit.read.
    const unscoped = await newPage();
    await unscoped.page.goto(`${running.url}/#org=${encodeURIComponent(ORG)}`);
    await unscoped.page.getByLabel('Client id (x-api-key)').fill(CLIENT);
    await unscoped.page
      .getByLabel('Bearer token')
      .fill(await mintToken({ secret, clientId: CLIENT, orgs: [ORG], scope: 'audit.write' }));
    await unscoped.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await unscoped.page.getByRole('alert').waitFor();
    expect(await unscoped.page.getByRole('alert').innerText()).to.contain(
      'Your token lacks the scope audit.read, which this needs.',
    );
    await unscoped.context.close();

    // Twice busy, then served: the page says so and retries after Retry-After.
    let refused = 0;
    await page.route(/\/audits\?/, async (route) => {
      if (refused++ < 2) {
        await route.fulfill({
          status: 503,
          headers: { 'content-type': 'application/json', 'retry-after': '1' },
          body: JSON.stringify({ reason: 'service_unavailable', message: 'the database is unavailable' }),
        });
      } else {
        await route.continue();
      }
    });
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByText(/The service is busy\. Retrying in 1 s \(retry 1 of 4\)/).waitFor();
    await waitRows(page, 25);
    expect(refused).to.equal(3);
    expect(await page.getByText(/The service is busy/).count()).to.equal(0);
    await page.unroute(/\/audits\?/);

    // A token that has expired.
    const expired = await newPage();
    await expired.page.goto(`${running.url}/#org=${encodeURIComponent(ORG)}`);
    await signIn(expired.page, [ORG], -120);
    await expired.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await expired.page.getByRole('alert').innerText()).to.equal(
      'Your sign-in was not accepted (token has expired). Please sign in again.',
    );
    await expired.context.close();
  });

  it('offers "Sign in as developer" in dev mode: a read-only token for every tenant', async () => {
    const dev = await newPage();
    await dev.page.goto(`${running.url}/`);
    await dev.page.getByRole('button', { name: 'Sign in as developer' }).click();
    await dev.page.getByText('Signed in as dev-viewer').waitFor();
    // orgs "*": the tenant is typed.
    await dev.page.getByLabel('Tenant (imsOrgId)').fill(SMALL_ORG);
    await dev.page.getByRole('button', { name: 'Show events' }).click();
    await waitRows(dev.page, 5);
    await dev.context.close();

    // Outside dev mode the endpoint does not exist, and the page does not offer it.
    expect((await fetch(`${configured.url}/dev/token`, { method: 'POST' })).status).to.equal(404);
    const prod = await newPage();
    await prod.page.goto(`${configured.url}/`);
    await prod.page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await prod.page.waitForLoadState('networkidle');
    expect(await prod.page.getByRole('button', { name: 'Sign in as developer' }).count()).to.equal(0);
    await prod.context.close();
  });

  it('works on a narrow screen (390×844): no sideways scrolling, rows as cards', async () => {
    const phone = await newPage(PHONE);
    await phone.page.goto(`${running.url}/#org=${encodeURIComponent(ORG)}`);
    await signIn(phone.page, [ORG]);
    await waitRows(phone.page, 25);
    expect(await scrollWidth(phone.page)).to.be.at.most(PHONE.width);
    const firstRow = rows(phone.page).first();
    expect(await firstRow.evaluate((row) => (globalThis as unknown as InPage).getComputedStyle(row).display)).to.equal(
      'block',
    );
    await firstRow.click();
    await phone.page.getByRole('complementary').waitFor();
    expect(await scrollWidth(phone.page)).to.be.at.most(PHONE.width);
    await phone.page.screenshot({ path: path.join(ARTIFACTS, 'viewer-narrow.png') });
    await firstRow.scrollIntoViewIfNeeded();
    await phone.page.screenshot({ path: path.join(ARTIFACTS, 'viewer-narrow-rows.png') });
    await phone.context.close();
  });

  it('labels every control, and gives all its text a contrast of at least 4.5:1 (WCAG AA)', async () => {
    await rows(page).first().click();
    await page.getByRole('complementary').getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('status', { name: 'Event verification' }).waitFor();
    await page.getByRole('button', { name: 'Verify log' }).click();
    await page.getByRole('status', { name: 'Log verification' }).waitFor();
    const unlabelled = await page
      .locator('input, select, textarea, button')
      .evaluateAll((controls) =>
        (controls as unknown as { id: string; labels: unknown[] | null; textContent: string | null }[])
          .filter((control) => !control.labels?.length && !control.textContent?.trim())
          .map((control) => control.id),
      );
    expect(unlabelled).to.deep.equal([]);
    // Each element's own text against the first opaque background behind it. (tsx names the
    // functions inside with esbuild's __name helper, which the page must have too.)
    await page.evaluate('globalThis.__name = (fn) => fn');
    const lowContrast = await page.evaluate(() => {
      type Node = { nodeType: number; textContent: string | null };
      type Element = Node & { childNodes: Node[]; parentElement: Element | null; tagName: string };
      const dom = globalThis as unknown as {
        document: { body: Element; querySelectorAll(selector: string): Element[] };
        getComputedStyle(element: Element): { color: string; backgroundColor: string; visibility: string };
      };
      const rgb = (color: string) => (color.match(/[\d.]+/g) ?? []).map(Number);
      const luminance = ([r, g, b]: number[]) => {
        const channel = (value: number) => {
          const c = value / 255;
          return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
      };
      const background = (element: Element | null): number[] => {
        for (let at = element; at; at = at.parentElement) {
          const color = rgb(dom.getComputedStyle(at).backgroundColor);
          if (color.length === 3 || color[3] === 1) return color.slice(0, 3);
        }
        return [255, 255, 255];
      };
      const failures: string[] = [];
      for (const element of dom.document.querySelectorAll('body *')) {
        const ownText = Array.from(element.childNodes).some(
          (child) => child.nodeType === 3 && child.textContent?.trim(),
        );
        if (!ownText || dom.getComputedStyle(element).visibility === 'hidden') continue;
        const [fore, back] = [luminance(rgb(dom.getComputedStyle(element).color)), luminance(background(element))];
        const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
        if (ratio < 4.5)
          failures.push(`${element.tagName} "${element.textContent?.slice(0, 30)}": ${ratio.toFixed(2)}`);
      }
      return failures;
    });
    expect(lowContrast).to.deep.equal([]);
  });

  it('made no request to another host, and logged no error (a CSP violation would be one)', async () => {
    await context.close();
    const origins = new Set([new URL(running.url).origin, new URL(configured.url).origin]);
    expect(requested.length).to.be.greaterThan(20);
    expect(
      requested.filter(
        (url) => !url.startsWith('data:') && !url.startsWith('blob:') && !origins.has(new URL(url).origin),
      ),
    ).to.deep.equal([]);
    // Chromium logs each error status as a failed load: the 401, 403 and 503 the tests caused, and
    // the dev sign-in probe's 405 (dev mode: the route exists) and 404 (not dev mode). Nothing else.
    const unexpected = pageErrors.filter(
      (text) => !/^Failed to load resource: the server responded with a status of (401|403|404|405|503) /.test(text),
    );
    expect(unexpected).to.deep.equal([]);
  });
});
