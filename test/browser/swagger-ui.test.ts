import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { extractOperations, loadBundledSpec } from '@switchboard/server';
import { chromiumAvailable, launchChromium } from '../support/chromium.js';
import { PASSWORD, signUp, uniqueEmail } from '../support/people.js';

const document = loadBundledSpec().document;
const operations = extractOperations(document);
const webhookOperations = Object.values(document.webhooks ?? {}).map((item) => item.post.operationId);

/**
 * Swagger UI renders a long list of operations virtually (150 tags and operations or more): only
 * what is on screen is in the page. What it lists is what a reader scrolling down the page sees.
 */
async function listedWhileScrolling(page: Page): Promise<Set<string>> {
  const seen = new Set<string>();
  await page.evaluate(() => window.scrollTo(0, 0));
  for (let step = 0; step < 500; step++) {
    for (const id of await page.$$eval('.opblock .opblock-summary-operation-id', (nodes) => nodes.map((n) => n.textContent?.trim() ?? ''))) seen.add(id);
    const moved = await page.evaluate(() => {
      const before = window.scrollY;
      window.scrollBy(0, window.innerHeight / 2);
      return window.scrollY !== before;
    });
    if (!moved) break;
    await page.waitForTimeout(30);
  }
  return seen;
}

/** Filters the page to a tag, as a reader looking for an operation does: its operations are then all in the page. */
async function reveal(page: Page, tag: string): Promise<void> {
  await page.locator('input.operation-filter-input').fill(tag, { timeout: 5_000 });
  await page.locator(`#operations-tag-${tag.replace(/ /g, '_')}`).waitFor({ timeout: 5_000 });
}

describe.skipIf(!chromiumAvailable)('Swagger UI at /api/docs in Chromium', () => {
  let browser: Browser;
  let page: Page;
  const failedRequests: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('requestfailed', (r) => failedRequests.push(r.url()));
    await page.goto(`${inject('serverUrl')}/api/docs`);
    await page.waitForSelector('.opblock', { timeout: 20_000 });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Opens an operation, clicks "Try it out" and "Execute" with the form as pre-filled; the status and body shown. */
  async function tryItOut(tag: string, selector: string): Promise<{ status: string | undefined; body: string }> {
    await reveal(page, tag);
    const op = page.locator(selector);
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table .response .response-col_status');
    await status.waitFor({ timeout: 10_000 });
    return { status: (await status.textContent())?.trim(), body: await op.locator('.live-responses-table .response .response-col_description').innerText() };
  }

  it('loads offline and lists every operation and every webhook of the spec', async () => {
    expect(webhookOperations.length).toBeGreaterThan(30);
    expect(await listedWhileScrolling(page)).toEqual(new Set([...operations.map((o) => o.operationId), ...webhookOperations]));
    expect(failedRequests).toEqual([]);
  });

  it('calls the API with "Try it out" after authorizing with the API key', async () => {
    await page.click('button.authorize');
    const input = page.locator('.auth-container').filter({ hasText: 'bearerAuth' }).locator('input');
    await input.fill(inject('adminKey'));
    await page.locator('.auth-container').filter({ hasText: 'bearerAuth' }).locator('button.authorize').click();
    await page.click('.auth-btn-wrapper button.btn-done');

    const { status, body } = await tryItOut('Organization', '#operations-Organization-getOrganization');
    expect(status).toBe('200');
    expect(body).toContain('"object": "organization"');
  });

  // Optional parameters pre-fill nothing that changes the call: an example X-App-Id made this a 404.
  it('lists agents with "Try it out" and the form as Swagger UI pre-fills it', async () => {
    const { status, body } = await tryItOut('Agents', '#operations-Agents-listAgents');
    expect(status).toBe('200');
    expect(body).toContain('"pagination"');
  });

  it('logs a person in with "Try it out", then calls the API with the session cookie, writes included', async () => {
    const person = await signUp(inject('serverUrl'));
    const signedIn = await browser.newPage();
    await signedIn.goto(`${inject('serverUrl')}/api/docs`);
    await signedIn.waitForSelector('.opblock', { timeout: 20_000 });
    const run = async (tag: string, selector: string, body?: unknown) => {
      await reveal(signedIn, tag);
      const op = signedIn.locator(selector);
      await op.locator('.opblock-summary').click();
      await op.locator('button.try-out__btn').click();
      if (body !== undefined) await op.locator('textarea.body-param__text').fill(JSON.stringify(body));
      await op.locator('button.execute').click();
      const status = op.locator('.live-responses-table .response .response-col_status');
      await status.waitFor({ timeout: 10_000 });
      return { status: (await status.textContent())?.trim(), body: await op.locator('.live-responses-table .response .response-col_description').innerText() };
    };
    expect((await run('Authentication', '#operations-Authentication-logIn', { email: person.email, password: PASSWORD })).status).toBe('200');
    const me = await run('Me', '#operations-Me-getMe');
    expect(me.status).toBe('200');
    expect(me.body).toContain(person.email);
    // A write: the page sends the session's CSRF token for the person.
    const invited = await run('Members', '#operations-Members-createInvitation', { email: uniqueEmail('from-swagger'), role: 'viewer' });
    expect(invited.status).toBe('201');
    await signedIn.close();
    // It loads a page of its own (as the suite's beforeAll does, whose hook has its own budget): seconds on a busy machine.
  }, 90_000);

  it('filters the operations by tag with the filter box', async () => {
    const tagged = (tag: string) =>
      Object.values(document.paths ?? {})
        .flatMap((item) => Object.values(item as Record<string, { operationId?: string; tags?: string[] }>))
        .filter((op) => op.tags?.includes(tag))
        .map((op) => op.operationId);
    const visible = () => page.$$eval('.opblock-tag-section .opblock .opblock-summary-operation-id', (nodes) => nodes.map((n) => n.textContent?.trim()));
    const filter = page.locator('input.operation-filter-input');
    await filter.fill('Schedules', { timeout: 5_000 });
    await expect.poll(async () => new Set(await visible())).toEqual(new Set(tagged('Schedules')));
    await filter.fill('');
    await expect.poll(async () => listedWhileScrolling(page)).toEqual(new Set([...operations.map((o) => o.operationId), ...webhookOperations]));
  });
});
