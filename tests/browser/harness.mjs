// What the headless-Chromium tests share: the real ttrelayd on loopback ports, a mock TikTok
// Events API that records every request, a shop server, Chromium through playwright-core,
// signed Shopify webhooks, and a runner that cleans everything up and prints the daemon's
// log when a check fails.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PIXEL = 'CTEST0000000000000001';
export const TIKTOK_TOKEN = 'tok';
export const ADMIN_TOKEN = 'browser-test-admin-token';
export const SHOP_SECRET = 'shpsecret';
export const TRACK_PATH = '/open_api/v1.3/event/track/';

const cleanups = [];
let daemonLog = '';

export function daemonOutput() {
  return daemonLog;
}

/* fn runs (in reverse order of registration) when the test ends, pass or fail. */
export function atCleanup(fn) {
  cleanups.push(fn);
}

export function fail(message) {
  throw new Error(message);
}

export function check(cond, message) {
  if (!cond) fail(message);
  console.log(`ok - ${message}`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Polls fn until it returns a truthy value; fails with what after ms. */
export async function waitFor(what, ms, fn) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(100);
  }
  fail(`timed out after ${ms} ms waiting for ${what}`);
}

/* ttrelayd's id for an order no touch reached, and ttr.js's for a thank-you page event
 * carrying that order id under data-source="<source>". */
export function derivedEventId(source, orderId) {
  return 'ttr_' + crypto.createHash('sha256').update(`${source}:order:${orderId}`).digest('hex');
}

export function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

export function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/* The TikTok Events API as ttrelayd sees it: every POST is recorded and answered OK. */
export async function startMockTikTok() {
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

/* A server for the shop's pages: routes maps a path to a function of the request that
 * returns HTML, or { type, body }. */
export async function startShop(routes) {
  const server = http.createServer((req, res) => {
    const route = routes[req.url.split('?')[0]];
    if (!route) {
      res.writeHead(404);
      res.end();
      return;
    }
    const out = route(req);
    const page = typeof out === 'string' ? { type: 'text/html; charset=utf-8', body: out } : out;
    res.writeHead(200, { 'Content-Type': page.type, 'Cache-Control': 'no-store' });
    res.end(page.body);
  });
  const port = await listen(server);
  cleanups.push(() => server.close());
  return port;
}

/* A route serving a file of this directory. */
export function fileRoute(name, type) {
  const body = fs.readFileSync(path.join(HERE, name));
  return () => ({ type, body });
}

export function writeConfig(dir, tiktokPort, allowedOrigins) {
  const origins = allowedOrigins.map((o) => `"${o}"`).join(', ');
  const conf = `# written by a test in tests/browser
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
collect = { allowed_origins = ( ${origins} ); };
sources = ( { id = "shop"; type = "shopify"; secret = "${SHOP_SECRET}"; } );
`;
  const file = path.join(dir, 'ttrelay.conf');
  fs.writeFileSync(file, conf);
  return file;
}

/* Starts ttrelayd and reads both bound ports from its "msg=listening" log lines. */
export async function startDaemon(conf) {
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

export async function admin(state, pathAndQuery) {
  const res = await fetch(`http://127.0.0.1:${state.adminPort}${pathAndQuery}`, {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (res.status !== 200) fail(`GET ${pathAndQuery} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export async function launchBrowser(dir) {
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

/* A Shopify order webhook body, in the shape of tests/fixtures/shopify_orders_*.json. */
export function shopifyOrder({ id, email, total = '388.00', noteAttributes = [] }) {
  const now = new Date().toISOString();
  return {
    id, name: `#${1000 + (id % 9000)}`, order_number: 1000 + (id % 9000), email, contact_email: email,
    created_at: now, processed_at: now, updated_at: now, test: false,
    financial_status: 'paid', currency: 'USD', presentment_currency: 'USD', total_price: total,
    total_price_set: { shop_money: { amount: total, currency_code: 'USD' },
                       presentment_money: { amount: total, currency_code: 'USD' } },
    note_attributes: noteAttributes, browser_ip: null, client_details: null, landing_site: null,
    referring_site: null, cart_token: null, checkout_token: null,
    token: crypto.createHash('md5').update(String(id)).digest('hex'),
    customer: { id: 207119551, email, first_name: 'Sam', last_name: 'Shopper', phone: null },
    line_items: [{ id: 866550311766439, product_id: 632910392, variant_id: 808950810, sku: 'SKU-1',
                   name: 'Walnut desk', title: 'Walnut desk', price: total, quantity: 1,
                   properties: [] }],
    refunds: [],
  };
}

/* Posts order as Shopify does: base64 HMAC-SHA256 of the raw body in X-Shopify-Hmac-Sha256. */
export async function postShopifyOrder(state, order, topic = 'orders/paid') {
  const raw = Buffer.from(JSON.stringify(order));
  const hmac = crypto.createHmac('sha256', SHOP_SECRET).update(raw).digest('base64');
  const res = await fetch(`http://127.0.0.1:${state.publicPort}/webhooks/shop`, {
    method: 'POST',
    body: raw,
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': topic,
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
        `the signed Shopify ${topic} webhook for order ${order.id} is accepted (${res.status} ${text})`);
}

/* The event the mock TikTok received for orderId, once it arrives: { request, event }. */
export async function deliveredOrder(tiktok, orderId, ms = 30000) {
  return waitFor(`order ${orderId} to reach the mock TikTok`, ms, () => {
    for (const r of tiktok.requests) {
      const data = (r.body && r.body.data) || [];
      const ev = data.find((d) => d.properties && d.properties.order_id === String(orderId));
      if (ev) return { request: r, event: ev };
    }
    return null;
  });
}

async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { await fn(); } catch { /* already closed */ }
  }
}

/* Runs main with a watchdog; sets the exit status; always cleans up. */
export async function run(name, main, watchdogMs = 240000) {
  const watchdog = setTimeout(async () => {
    console.error(`not ok - ${name} did not finish within ${watchdogMs / 1000} s`);
    await cleanup();
    process.exit(1);
  }, watchdogMs);
  try {
    await main();
    console.log(`# ${name} passed`);
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
}
