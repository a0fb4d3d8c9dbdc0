// Drives Debian's chromium through the folio console of a running
// "folio serve" (started, and fed with fixtures, by cmd/folio's
// TestE2EConsoleBrowser). playwright-core is only the driver: it downloads
// no browser; the browser is /usr/bin/chromium with a fresh profile.
//
// Environment: CONSOLE_URL (http://HOST:PORT/console), SCREENSHOT_DIR,
// FAILED_JOB and FAILED_PATH (a failed job and the field path of its
// error), PATIENT (a patient id with documents), CHROMIUM (default
// /usr/bin/chromium). Prints one line per check; exits 1 if any failed.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const base = env('CONSOLE_URL');
const shots = env('SCREENSHOT_DIR');
const failedJob = env('FAILED_JOB');
const failedPath = env('FAILED_PATH');
const patient = env('PATIENT');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');

fs.mkdirSync(shots, { recursive: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'folio-chromium-'));
let failures = 0;
const check = (ok, what, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}`);
  if (!ok) failures++;
};

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });

  // Jobs: the failed job is listed with the field path of its error.
  let resp = await page.goto(`${base}/jobs`);
  check(resp.status() === 200, 'jobs page answers 200', String(resp.status()));
  check((resp.headers()['cache-control'] ?? '') === 'no-store', 'jobs page is not cached', resp.headers()['cache-control']);
  check((resp.headers()['content-security-policy'] ?? '').includes("default-src 'none'"), 'jobs page has a strict CSP');
  const row = page.locator('tr', { has: page.locator(`a[href$="/jobs/${failedJob}"]`) });
  check(await row.count() === 1, `jobs page lists the failed job ${failedJob}`);
  if (await row.count() === 1) {
    check((await row.locator('.badge').innerText()).toLowerCase() === 'failed', 'its status is failed');
    check(await row.locator('code.path').innerText() === failedPath, `its row shows the field path ${failedPath}`);
  }
  await page.screenshot({ path: path.join(shots, 'jobs.png'), fullPage: true });
  await page.goto(`${base}/jobs?failed=1`);
  const failedRows = await page.locator('table.jobs tbody tr').count();
  check(failedRows >= 1 && await page.locator('table.jobs tbody tr.st-done').count() === 0, 'the failed filter shows failed jobs only', `${failedRows} rows`);
  await page.screenshot({ path: path.join(shots, 'jobs-failed.png'), fullPage: true });

  // The job page, reached by its link.
  await page.locator(`a[href$="/jobs/${failedJob}"]`).first().click();
  await page.waitForLoadState('load');
  check(page.url().endsWith(`/jobs/${failedJob}`), 'the link opens the job page', page.url());
  check(await page.locator('h1').innerText().then((t) => t.includes(failedJob)), 'the job page names the job');
  check(await page.locator('table.errors code.path', { hasText: failedPath }).count() >= 1, `the job page shows the error at ${failedPath}`);
  await page.screenshot({ path: path.join(shots, 'job.png'), fullPage: true });

  // Documents: a patient search shows cards whose thumbnails loaded.
  await page.goto(`${base}/documents`);
  await page.fill('#q', patient);
  await Promise.all([page.waitForLoadState('load'), page.click('form.search button')]);
  await page.waitForLoadState('load');
  const cards = page.locator('article.card');
  const n = await cards.count();
  check(n >= 1, `a search for ${patient} shows cards`, `${n}`);
  const imgs = await page.$$eval('article.card img', (is) => is.map((i) => ({ src: i.getAttribute('src'), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight })));
  check(imgs.length >= 1, 'the cards have thumbnails', `${imgs.length}`);
  for (const i of imgs) check(i.complete && i.w > 0 && i.h > 0, `thumbnail ${i.src} loaded`, `${i.w}x${i.h}`);
  check(await page.locator('article.card .status-banner').count() === n, 'every card shows its status');
  await page.screenshot({ path: path.join(shots, 'documents.png'), fullPage: true });

  // The PDF link answers a PDF, inline.
  const href = await page.locator('article.card a.pdf').first().getAttribute('href');
  check(!!href, 'a card links its PDF');
  if (href) {
    const r = await context.request.get(new URL(href, page.url()).toString());
    const body = await r.body();
    check(r.status() === 200 && r.headers()['content-type'] === 'application/pdf', `${href} answers application/pdf`, `${r.status()} ${r.headers()['content-type']}`);
    check((r.headers()['content-disposition'] ?? '').startsWith('inline'), 'the PDF opens in the browser (inline)');
    check(body.subarray(0, 5).toString() === '%PDF-', 'the PDF starts with %PDF-');
  }

  // Health: a queue depth.
  resp = await page.goto(`${base}/health`);
  const depth = (await page.locator('#queue-depth').innerText()).trim();
  check(/^\d+$/.test(depth), 'the health page shows a queue depth', depth);
  check(await page.getByText('CONNECTED').count() >= 1, 'the health page shows NATS connected');
  await page.screenshot({ path: path.join(shots, 'health.png'), fullPage: true });

  check(errors.length === 0, 'no page errors or console errors (CSP violations included)', errors.join(' | '));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(failures === 0 ? 'all checks passed' : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
