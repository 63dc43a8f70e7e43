// Real-browser test: headless Debian Chromium loads a shop page with the TikTok pixel's queue
// stub and ttr.js served by the real ttrelayd. The test proves that ttr.js gives the pixel an
// event_id without the site's help, that the daemon stores the touches (email only as a
// hash), and that a signed Shopify order for the same email reaches a mock TikTok Events API
// with that same event_id, so TikTok deduplicates the browser and server copies. The tag has
// no data-source, so even the CompletePayment with an order id keeps a random id.
//
// Run: TTRELAYD=/path/to/ttrelayd node tests/browser/test_browser.mjs
// Needs: npm ci --prefix tests/browser (playwright-core), /usr/bin/chromium.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HERE, PIXEL, TIKTOK_TOKEN, TRACK_PATH, admin, atCleanup, check, daemonOutput,
         fileRoute, launchBrowser, postShopifyOrder, run, shopifyOrder, startDaemon, startMockTikTok,
         startShop, waitFor, writeConfig } from './harness.mjs';

const RAW_EMAIL = ' Shopper@Example.com ';
const EMAIL = 'shopper@example.com';
const EMAIL_HASH = crypto.createHash('sha256').update(EMAIL).digest('hex');

/* The shop: page.html with the script tag pointed at the daemon once its port is known. */
function shopRoutes(state) {
  const html = fs.readFileSync(path.join(HERE, 'page.html'), 'utf8');
  return {
    '/': () => html.replace('__TTR_SRC__', `http://127.0.0.1:${state.publicPort}/ttr.js`),
    '/ttq_stub.js': fileRoute('ttq_stub.js', 'text/javascript'),
  };
}

/* The visitor's journey: types an email, pays (no event_id from the site), views a product
 * with the site's own event_id. Returns what the pixel stub received. */
async function browse(context, shopPort) {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${shopPort}/?utm_source=tiktok`);
  await page.waitForFunction(() => window.ttr && window.ttr.vid, null, { timeout: 10000 });
  const vid = await page.evaluate(() => window.ttr.vid);
  check(/^[0-9a-f]{32}$/.test(vid), `ttr.js exposes a 128-bit hex visitor id (${vid})`);

  await page.fill('#email', RAW_EMAIL);
  await page.locator('#email').blur();
  await page.evaluate(() => window.ttq.track('CompletePayment',
                                             { value: 388.00, currency: 'USD', order_id: '5550001' }));
  await page.evaluate(() => window.ttq.track('ViewContent', { content_id: 'sku-1' },
                                             { event_id: 'explicit-1' }));
  const calls = await page.evaluate(() => window.__ttqCalls);
  const lastEventId = await page.evaluate(() => window.ttr.lastEventId);
  const cookies = await context.cookies(`http://127.0.0.1:${shopPort}`);
  check(pageErrors.length === 0, `no page errors (${pageErrors.join('; ')})`);
  return { vid, calls, lastEventId, cookies };
}

function checkPixelCalls(seen) {
  const track = (name) => seen.calls.find((c) => c[0] === 'track' && c[1] === name);
  const paid = track('CompletePayment');
  const viewed = track('ViewContent');
  check(paid && paid[3] && /^ttr_[0-9a-f]{20}$/.test(paid[3].event_id),
        `the pixel got an injected event_id on CompletePayment (${JSON.stringify(paid)})`);
  check(JSON.stringify(paid[2]) === JSON.stringify({ value: 388, currency: 'USD', order_id: '5550001' }),
        'the CompletePayment properties reach the pixel unchanged');
  check(viewed && JSON.stringify(viewed.slice(1)) ===
          JSON.stringify(['ViewContent', { content_id: 'sku-1' }, { event_id: 'explicit-1' }]),
        `the site's own event_id reaches the pixel unchanged (${JSON.stringify(viewed)})`);
  check(seen.lastEventId === 'explicit-1', 'ttr.lastEventId is the latest tracked event_id');
  const cookie = seen.cookies.find((c) => c.name === 'ttr_vid');
  check(cookie && cookie.value === seen.vid && cookie.sameSite === 'Lax' && cookie.path === '/',
        'the visitor id is kept in the first-party ttr_vid cookie (SameSite=Lax, path=/)');
  return paid[3].event_id;
}

async function checkTouches(state, vid, autoEventId) {
  const touches = await waitFor('the daemon to store 2 event touches and 1 identify', 15000,
    async () => {
      const got = (await admin(state, `/admin/touches?vid=${vid}`)).touches || [];
      const events = got.filter((t) => t.event);
      const identify = got.filter((t) => !t.event && t.email_hash);
      return events.length >= 2 && identify.length >= 1 ? got : null;
    });
  const byEvent = (name) => touches.filter((t) => t.event === name);
  const paid = byEvent('CompletePayment');
  const viewed = byEvent('ViewContent');
  const identify = touches.filter((t) => !t.event && t.email_hash);
  check(paid.length === 1 && paid[0].event_id === autoEventId && paid[0].order_id === '5550001',
        `one CompletePayment touch with the injected event_id and order_id 5550001 (${JSON.stringify(paid)})`);
  check(viewed.length === 1 && viewed[0].event_id === 'explicit-1',
        'one ViewContent touch with event_id explicit-1');
  check(identify.length === 1 && identify[0].email_hash === EMAIL_HASH,
        `one identify touch whose email_hash is sha256("${EMAIL}")`);
  check(touches.every((t) => t.vid === vid), 'every touch belongs to the visitor');
  check(!JSON.stringify(touches).toLowerCase().includes(EMAIL), 'no touch carries the raw email');
}

async function checkDelivery(state, tiktok, autoEventId) {
  const found = await waitFor('the order to reach the mock TikTok with the browser event_id', 30000,
    () => {
      for (const r of tiktok.requests) {
        const data = (r.body && r.body.data) || [];
        const ev = data.find((d) => d.event_id === autoEventId);
        if (ev) return { request: r, event: ev };
      }
      return null;
    });
  const { request, event } = found;
  check(request.method === 'POST' && request.path === TRACK_PATH, `sent to POST ${TRACK_PATH}`);
  check(request.headers['access-token'] === TIKTOK_TOKEN, 'with the pixel access token');
  check(request.body.event_source === 'web' && request.body.event_source_id === PIXEL,
        'to the configured pixel as a web event');
  check(event.event === 'CompletePayment', `with the browser's event name (${event.event})`);
  check(event.user && event.user.email === EMAIL_HASH, 'with the hashed email');
  check(event.properties && Number(event.properties.value) === 388 &&
        event.properties.currency === 'USD' && event.properties.order_id === '5550001',
        `with the order's value, currency and id (${JSON.stringify(event.properties)})`);
  check(Math.abs(event.event_time - Date.now() / 1000) < 300, 'with a current event_time');
  const explicit = tiktok.requests.some((r) => ((r.body && r.body.data) || [])
    .some((d) => d.event_id === 'explicit-1'));
  check(!explicit, 'the ViewContent touch was not used for the order');
  let mine = null;
  await waitFor('the admin API to show the event as sent', 10000, async () => {
    const events = (await admin(state, '/admin/events')).events || [];
    mine = events.find((e) => e.event_id === autoEventId) || null;
    return mine && mine.state === 'sent';
  }).catch(() => null);
  check(mine && mine.matched_by === 'order_ref' && mine.state === 'sent',
        `the admin API shows the event sent and matched by the order id the page reported (${JSON.stringify(mine)})`);
}

/* Raw email must not reach the log or the database files. */
function checkNoRawEmail(dir) {
  check(!daemonOutput().toLowerCase().includes(EMAIL), 'the daemon log never contains the raw email');
  for (const name of fs.readdirSync(dir).filter((n) => n.startsWith('ttrelay.db'))) {
    const bytes = fs.readFileSync(path.join(dir, name)).toString('latin1').toLowerCase();
    check(!bytes.includes(EMAIL), `${name} never contains the raw email`);
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttr-browser-'));
  atCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = { publicPort: 0, adminPort: 0 };
  const tiktok = await startMockTikTok();
  const shopPort = await startShop(shopRoutes(state));
  const conf = writeConfig(dir, tiktok.port, [`http://127.0.0.1:${shopPort}`]);
  const daemon = await startDaemon(conf);
  Object.assign(state, daemon);
  console.log(`# ttrelayd public ${state.publicPort}, admin ${state.adminPort}, shop ${shopPort}, mock TikTok ${tiktok.port}`);

  const context = await launchBrowser(dir);
  const seen = await browse(context, shopPort);
  const autoEventId = checkPixelCalls(seen);
  await checkTouches(state, seen.vid, autoEventId);
  await postShopifyOrder(state, shopifyOrder({ id: 5550001, email: EMAIL }));
  await checkDelivery(state, tiktok, autoEventId);
  check(state.isRunning(), 'ttrelayd is still running');
  await context.close();
  await state.stop();
  const status = state.exitStatus();
  check(status && status.code === 0, `ttrelayd stops on SIGTERM with status 0 (${JSON.stringify(status)})`);
  checkNoRawEmail(dir);
}

await run('browser test', main);
