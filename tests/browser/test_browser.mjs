// Real-browser test: headless Debian Chromium loads a shop page with the TikTok pixel's queue
// stub and ttr.js served by the real ttrelayd. The test proves that ttr.js gives the pixel an
// event_id without the site's help, that the daemon stores the touches (email only as a
// hash), and that a signed Shopify order for the same email reaches a mock TikTok Events API
// with that same event_id, so TikTok deduplicates the browser and server copies.
//
// Run: TTRELAYD=/path/to/ttrelayd node tests/browser/test_browser.mjs
// Needs: npm ci --prefix tests/browser (playwright-core), /usr/bin/chromium.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PIXEL = 'CTEST0000000000000001';
const TIKTOK_TOKEN = 'tok';
const ADMIN_TOKEN = 'browser-test-admin-token';
const SHOP_SECRET = 'shpsecret';
const RAW_EMAIL = ' Shopper@Example.com ';
const EMAIL = 'shopper@example.com';
const EMAIL_HASH = crypto.createHash('sha256').update(EMAIL).digest('hex');
const TRACK_PATH = '/open_api/v1.3/event/track/';
const WATCHDOG_MS = 240000;

const cleanups = [];
let daemonLog = '';

function fail(message) {
  throw new Error(message);
}

function check(cond, message) {
  if (!cond) fail(message);
  console.log(`ok - ${message}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Polls fn until it returns a truthy value; fails with what after ms. */
async function waitFor(what, ms, fn) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(100);
  }
  fail(`timed out after ${ms} ms waiting for ${what}`);
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/* The TikTok Events API as ttrelayd sees it: every POST is recorded and answered OK. */
async function startMockTikTok() {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    let body = null;
    try { body = JSON.parse(raw.toString('utf8')); } catch { body = null; }
    requests.push({ method: req.method, path: req.url, headers: req.headers, body });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ code: 0, message: 'OK', request_id: 'r1', data: {} }));
  });
  const port = await listen(server);
  cleanups.push(() => server.close());
  return { port, requests };
}

/* The shop: page.html with the script tag pointed at the daemon once its port is known. */
async function startShop(state) {
  const html = fs.readFileSync(path.join(HERE, 'page.html'), 'utf8');
  const server = http.createServer((req, res) => {
    if (req.url !== '/' && !req.url.startsWith('/?')) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html.replace('__TTR_SRC__', `http://127.0.0.1:${state.publicPort}/ttr.js`));
  });
  const port = await listen(server);
  cleanups.push(() => server.close());
  return port;
}

function writeConfig(dir, tiktokPort, shopOrigin) {
  const conf = `# written by tests/browser/test_browser.mjs
listen = { address = "127.0.0.1"; port = 0; };
admin = { address = "127.0.0.1"; port = 0; token = "${ADMIN_TOKEN}"; };
store = { path = "${path.join(dir, 'ttrelay.db')}"; };
tiktok = {
  api_base = "http://127.0.0.1:${tiktokPort}";
  default_pixel = "${PIXEL}";
  pixels = ( { code = "${PIXEL}"; access_token = "${TIKTOK_TOKEN}"; } );
  dry_run = false;
  retry_base_ms = 200;
  retry_cap_ms = 2000;
};
match = { hold_s = 1; };
collect = { allowed_origins = ( "${shopOrigin}" ); };
sources = ( { id = "shop"; type = "shopify"; secret = "${SHOP_SECRET}"; } );
`;
  const file = path.join(dir, 'ttrelay.conf');
  fs.writeFileSync(file, conf);
  return file;
}

/* Starts ttrelayd and reads both bound ports from its "msg=listening" log lines. */
async function startDaemon(conf) {
  const bin = process.env.TTRELAYD;
  if (!bin || !fs.existsSync(bin)) fail(`TTRELAYD must name the ttrelayd binary (got "${bin || ''}")`);
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const collect = (chunk) => { daemonLog += chunk.toString('utf8'); };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const deadline = Date.now() + 10000;
    while (!exited && Date.now() < deadline) await sleep(50);
    if (!exited) child.kill('SIGKILL');
  };
  cleanups.push(stop);
  const port = (listener) => {
    // logfmt may quote the value: msg=listening or msg="listening"
    const m = daemonLog.match(new RegExp(`msg="?listening"? listener=${listener} .*?port=(\\d+)`));
    return m ? Number(m[1]) : 0;
  };
  await waitFor('ttrelayd to log both listening ports', 15000, () => {
    if (exited) fail(`ttrelayd exited early (${JSON.stringify(exited)})`);
    return port('public') && port('admin');
  });
  return { publicPort: port('public'), adminPort: port('admin'), isRunning: () => !exited, stop,
           exitStatus: () => exited };
}

async function admin(state, pathAndQuery) {
  const res = await fetch(`http://127.0.0.1:${state.adminPort}${pathAndQuery}`, {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (res.status !== 200) fail(`GET ${pathAndQuery} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

async function launchBrowser(dir) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    fail(`playwright-core is not installed: run "npm ci --prefix ${HERE}" (${e.message})`);
  }
  if (!fs.existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}`);
  const profile = path.join(dir, 'chromium-profile');
  fs.mkdirSync(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
  });
  cleanups.push(() => context.close());
  context.setDefaultTimeout(15000);
  return context;
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
                                             { value: 388.00, currency: 'USD', order_id: '1001' }));
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
  check(JSON.stringify(paid[2]) === JSON.stringify({ value: 388, currency: 'USD', order_id: '1001' }),
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
  check(paid.length === 1 && paid[0].event_id === autoEventId && paid[0].order_id === '1001',
        `one CompletePayment touch with the injected event_id and order_id 1001 (${JSON.stringify(paid)})`);
  check(viewed.length === 1 && viewed[0].event_id === 'explicit-1',
        'one ViewContent touch with event_id explicit-1');
  check(identify.length === 1 && identify[0].email_hash === EMAIL_HASH,
        `one identify touch whose email_hash is sha256("${EMAIL}")`);
  check(touches.every((t) => t.vid === vid), 'every touch belongs to the visitor');
  check(!JSON.stringify(touches).toLowerCase().includes(EMAIL), 'no touch carries the raw email');
}

function shopifyOrder() {
  const now = new Date().toISOString();
  return {
    id: 5550001, name: '#7777', order_number: 7777, email: EMAIL, contact_email: EMAIL,
    created_at: now, processed_at: now, updated_at: now, test: false,
    financial_status: 'paid', currency: 'USD', presentment_currency: 'USD', total_price: '388.00',
    total_price_set: { shop_money: { amount: '388.00', currency_code: 'USD' },
                       presentment_money: { amount: '388.00', currency_code: 'USD' } },
    note_attributes: [], browser_ip: null, client_details: null, landing_site: null,
    referring_site: null, cart_token: null, checkout_token: null, token: 'b1946ac92492d2347c6235b4d2611184',
    customer: { id: 207119551, email: EMAIL, first_name: 'Sam', last_name: 'Shopper', phone: null },
    line_items: [{ id: 866550311766439, product_id: 632910392, variant_id: 808950810, sku: 'SKU-1',
                   name: 'Walnut desk', title: 'Walnut desk', price: '388.00', quantity: 1,
                   properties: [] }],
    refunds: [],
  };
}

async function postShopifyOrder(state) {
  const raw = Buffer.from(JSON.stringify(shopifyOrder()));
  const hmac = crypto.createHmac('sha256', SHOP_SECRET).update(raw).digest('base64');
  const res = await fetch(`http://127.0.0.1:${state.publicPort}/webhooks/shop`, {
    method: 'POST',
    body: raw,
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': 'orders/paid',
      'X-Shopify-Hmac-Sha256': hmac,
      'X-Shopify-Webhook-Id': crypto.randomUUID(),
      'X-Shopify-Event-Id': crypto.randomUUID(),
      'X-Shopify-Shop-Domain': 'ttr-browser-test.myshopify.com',
      'X-Shopify-API-Version': '2025-01',
      'X-Shopify-Triggered-At': new Date().toISOString(),
    },
  });
  const text = await res.text();
  check(res.status === 200 && JSON.parse(text).status === 'accepted',
        `the signed Shopify orders/paid webhook is accepted (${res.status} ${text})`);
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
  check(mine && mine.matched_by === 'email' && mine.state === 'sent',
        `the admin API shows the event sent and matched by email (${JSON.stringify(mine)})`);
}

/* Raw email must not reach the log or the database files. */
function checkNoRawEmail(dir) {
  check(!daemonLog.toLowerCase().includes(EMAIL), 'the daemon log never contains the raw email');
  for (const name of fs.readdirSync(dir).filter((n) => n.startsWith('ttrelay.db'))) {
    const bytes = fs.readFileSync(path.join(dir, name)).toString('latin1').toLowerCase();
    check(!bytes.includes(EMAIL), `${name} never contains the raw email`);
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttr-browser-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = { publicPort: 0, adminPort: 0 };
  const tiktok = await startMockTikTok();
  const shopPort = await startShop(state);
  const conf = writeConfig(dir, tiktok.port, `http://127.0.0.1:${shopPort}`);
  const daemon = await startDaemon(conf);
  Object.assign(state, daemon);
  console.log(`# ttrelayd public ${state.publicPort}, admin ${state.adminPort}, shop ${shopPort}, mock TikTok ${tiktok.port}`);

  const context = await launchBrowser(dir);
  const seen = await browse(context, shopPort);
  const autoEventId = checkPixelCalls(seen);
  await checkTouches(state, seen.vid, autoEventId);
  await postShopifyOrder(state);
  await checkDelivery(state, tiktok, autoEventId);
  check(state.isRunning(), 'ttrelayd is still running');
  await context.close();
  await state.stop();
  const status = state.exitStatus();
  check(status && status.code === 0, `ttrelayd stops on SIGTERM with status 0 (${JSON.stringify(status)})`);
  checkNoRawEmail(dir);
}

async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { await fn(); } catch { /* already closed */ }
  }
}

const watchdog = setTimeout(async () => {
  console.error(`not ok - the browser test did not finish within ${WATCHDOG_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, WATCHDOG_MS);

try {
  await main();
  console.log('# browser test passed');
  process.exitCode = 0;
} catch (e) {
  console.error(`not ok - ${e.message}`);
  console.error('# ttrelayd log (last 4000 bytes):');
  console.error(daemonLog.slice(-4000).replace(/^/gm, '# '));
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
