// Real-browser test of the dashboard on the admin listener: the real ttrelayd and a mock
// TikTok with a seeded history (orders matched by order reference, email and vid, one
// unmatched, one dead, a lead on a pixel TikTok refuses so that it pauses). Headless
// Chromium signs in with a wrong then the right token, every panel is checked against the
// admin API, search finds an order, the dead event is replayed from the page and reaches
// the mock with its original event_id, cross-site POSTs are refused, no page logs an error
// or fails a request, and each page is screenshotted at desktop and phone widths.
//
// Run: TTRELAYD=/path/to/ttrelayd node tests/browser/test_dashboard.mjs
// Needs: npm ci --prefix tests/browser (playwright-core), /usr/bin/chromium.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { ADMIN_TOKEN, PIXEL, SHOP_SECRET, TRACK_PATH, atCleanup, check, daemonOutput, fail,
         launchBrowser, listen, postShopifyOrder, readBody, run, shopifyOrder, startDaemon,
         waitFor } from './harness.mjs';

const PIXEL2 = 'CTEST0000000000000002';
const CRM_SECRET = 'crm-secret-0123456789';
const TEST_CODE = 'TEST12345';
const base = 7700000000000 + (Date.now() % 100000) * 10;
const ORDERS = { ref: base + 1, email: base + 2, vid: base + 3, none: base + 4, dead: base + 5 };
const SHOTS = process.env.TTR_SCREENSHOTS ||
  path.join(path.dirname(process.env.TTRELAYD || '.'), 'dashboard-screenshots');

/* TikTok as seen from ttrelayd: PIXEL2's token is refused (40001: the pixel pauses); a batch
 * holding the "dead" order is rejected (40002) until rejectDead is cleared. */
async function startTikTok() {
  const mock = { requests: [], rejectDead: true };
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    let body = null;
    try { body = JSON.parse(raw.toString('utf8')); } catch { body = null; }
    mock.requests.push({ path: req.url, headers: req.headers, body });
    const data = (body && body.data) || [];
    let answer = { code: 0, message: 'OK', request_id: `req-${mock.requests.length}`, data: {} };
    if (req.headers['access-token'] === 'bad')
      answer = { code: 40001, message: 'No permission to operate pixel', request_id: 'req-denied' };
    else if (mock.rejectDead && data.some((d) => d.properties && d.properties.order_id === String(ORDERS.dead)))
      answer = { code: 40002, message: 'Invalid value for event_time', request_id: 'req-bad' };
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  mock.port = await listen(server);
  atCleanup(() => server.close());
  return mock;
}

function writeConfig(dir, tiktokPort) {
  const conf = `# written by tests/browser/test_dashboard.mjs
listen = { address = "127.0.0.1"; port = 0; };
admin = { address = "127.0.0.1"; port = 0; token = "${ADMIN_TOKEN}"; };
store = { path = "${path.join(dir, 'ttrelay.db')}"; };
tiktok = {
  api_base = "http://127.0.0.1:${tiktokPort}";
  default_pixel = "${PIXEL}";
  pixels = ( { code = "${PIXEL}"; access_token = "tok"; test_event_code = "${TEST_CODE}"; },
             { code = "${PIXEL2}"; access_token = "bad"; } );
  retry_base_ms = 200;
  retry_cap_ms = 2000;
};
match = { hold_s = 1; };
collect = { allowed_origins = ( "http://shop.test" ); };
sources = ( { id = "shop"; type = "shopify"; secret = "${SHOP_SECRET}"; },
            { id = "crm"; type = "generic"; secret = "${CRM_SECRET}"; kind = "lead"; pixel = "${PIXEL2}"; } );
`;
  const file = path.join(dir, 'ttrelay.conf');
  fs.writeFileSync(file, conf);
  return file;
}

async function api(st, p, opts = {}) {
  const res = await fetch(`http://127.0.0.1:${st.adminPort}${p}`, {
    method: opts.method || 'GET',
    headers: { ...(opts.auth === false ? {} : { Authorization: `Bearer ${ADMIN_TOKEN}` }), ...(opts.headers || {}) },
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: res.status, json, text };
}

async function collect(st, touch) {
  const res = await fetch(`http://127.0.0.1:${st.publicPort}/collect`, {
    method: 'POST', headers: { 'Content-Type': 'text/plain' },
    body: JSON.stringify({ url: 'http://shop.test/checkout', ts: Math.floor(Date.now() / 1000), ...touch }),
  });
  if (res.status !== 204) fail(`/collect answered ${res.status}`);
}

async function seed(st, tiktok) {
  const vid = () => crypto.randomBytes(16).toString('hex');
  const [v1, v2, v3] = [vid(), vid(), vid()];
  await collect(st, { vid: v1, event: 'CompletePayment', event_id: 'evt-ref', order_id: String(ORDERS.ref), value: 388, currency: 'USD' });
  await collect(st, { vid: v2, event: 'CompletePayment', event_id: 'evt-email', email: 'b@example.com' });
  await collect(st, { vid: v3, event: 'CompletePayment', event_id: 'evt-vid' });
  await postShopifyOrder(st, shopifyOrder({ id: ORDERS.ref, email: 'a@example.com' }));
  await postShopifyOrder(st, shopifyOrder({ id: ORDERS.email, email: 'b@example.com' }));
  await postShopifyOrder(st, shopifyOrder({ id: ORDERS.vid, email: 'c@example.com',
                                            noteAttributes: [{ name: 'ttr_vid', value: v3 }] }));
  await postShopifyOrder(st, shopifyOrder({ id: ORDERS.none, email: 'd@example.com' }));
  await postShopifyOrder(st, shopifyOrder({ id: ORDERS.dead, email: 'e@example.com' }));
  const forged = await fetch(`http://127.0.0.1:${st.publicPort}/webhooks/shop`, {
    method: 'POST', body: '{"id":1}',
    headers: { 'Content-Type': 'application/json', 'X-Shopify-Topic': 'orders/paid', 'X-Shopify-Hmac-Sha256': 'AAAA' },
  });
  check(forged.status === 401, 'a webhook with a bad signature is refused (401)');
  const lead = await fetch(`http://127.0.0.1:${st.publicPort}/webhooks/crm`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${CRM_SECRET}` },
    body: JSON.stringify({ id: 'lead-1', email: 'f@example.com' }),
  });
  check(lead.status === 200, 'the CRM lead for the refused pixel is accepted');
  await waitFor('4 sent, 1 dead and the paused pixel', 30000, async () => {
    const s = (await api(st, '/admin/status')).json;
    const p2 = s.pixels.find((p) => p.pixel === PIXEL2);
    return s.counts.sent === 4 && s.counts.dead === 1 && p2 && p2.paused;
  });
  const events = (await api(st, '/admin/events?limit=100')).json.events;
  const byOrder = Object.fromEntries(Object.entries(ORDERS).map(([k, id]) =>
    [k, events.find((e) => e.object_id === String(id))]));
  check(byOrder.ref.matched_by === 'order_ref' && byOrder.email.matched_by === 'email' &&
        byOrder.vid.matched_by === 'vid' && byOrder.none.matched_by === 'none',
        `the seeded history has matches by order_ref, email and vid (${events.map((e) => e.matched_by)})`);
  return byOrder;
}

function watch(page, log) {
  page.on('console', (m) => { if (m.type() === 'error') log.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => log.push(`failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) log.push(`HTTP ${r.status()}: ${r.url()}`); });
}

async function show(page, hash) {
  const before = await page.evaluate(() => document.body.dataset.ready || '');
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((b) => document.body.dataset.ready && document.body.dataset.ready !== b, before);
  const failed = await page.$('#main [role="alert"]');
  if (failed) fail(`${hash} shows an error: ${await failed.textContent()}`);
}

async function shoot(page, name) {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 860 });
}

async function checkUnauthenticated(st, deadId) {
  for (const [method, p] of [['GET', '/admin/health'], ['GET', '/admin/events'], ['GET', '/admin/find'],
                             ['GET', '/admin/report'], ['GET', '/metrics'], ['GET', '/admin/sources'],
                             ['POST', `/admin/events/${deadId}/replay`], ['POST', '/admin/replay']]) {
    const r = await api(st, p, { method, auth: false });
    check(r.status === 401, `${method} ${p} without a token or cookie answers 401 (${r.status})`);
  }
  const wrong = await api(st, '/admin/health', { auth: false, headers: { Authorization: 'Bearer nope' } });
  check(wrong.status === 401, 'a wrong bearer token answers 401');
}

async function signIn(page, st, errors) {
  await page.goto(`http://127.0.0.1:${st.adminPort}/`);
  await page.waitForSelector('#signin-form', { state: 'visible' });
  await page.fill('#token', 'not-the-token');
  await page.click('#signin-form button');
  await page.waitForFunction(() => document.querySelector('#signin-error').textContent === 'Wrong token.');
  check(await page.isVisible('#signin-form') && !(await page.isVisible('#nav')),
        'a wrong token is refused and the sign-in form stays');
  check(errors.length === 2 && errors.every((e) => /401/.test(e)) &&
        errors.some((e) => e.startsWith('HTTP 401') && e.endsWith('/dashboard/login')),
        `the wrong token costs exactly its own 401 (${errors.join(' | ')})`);
  errors.length = 0;
  await shoot(page, 'signin');
  await page.fill('#token', ADMIN_TOKEN);
  await page.click('#signin-form button');
  await page.waitForFunction(() => document.body.dataset.ready);
  check(await page.isVisible('#nav'), 'the right token signs in');
  const cookie = (await page.context().cookies()).find((c) => c.name === 'ttr_session');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.expires > Date.now() / 1000 + 3600,
        `the session cookie is HttpOnly, SameSite=Strict, with an expiry (${JSON.stringify(cookie)})`);
  return cookie;
}

async function checkHealth(page, st) {
  const s = (await api(st, '/admin/status')).json;
  for (const state of ['sent', 'dead', 'ready', 'held']) {
    const text = await page.textContent(`[data-count="${state}"]`);
    check(text.trim() === `${state} ${s.counts[state]}`, `the health strip shows ${state} = ${s.counts[state]} (${text})`);
  }
  const reason = await page.textContent(`[data-pixel-reason="${PIXEL2}"]`);
  check(/40001/.test(reason), `the paused pixel shows why (${reason})`);
  const ok = await page.textContent(`[data-pixel-reason="${PIXEL}"]`);
  check(/last success .* ago/.test(ok), `the active pixel shows its last success (${ok})`);
  const shop = await page.textContent('[data-source-last="shop"]');
  check(/last webhook \d+ s ago/.test(shop), `the shop source shows its last webhook (${shop})`);
}

async function checkEvents(page, st, byOrder) {
  await show(page, '#/events');
  const all = (await api(st, '/admin/find?limit=1')).json.total;
  check((await page.textContent('#events-total')).endsWith(`of ${all}`), `the event list counts ${all} events`);
  await page.selectOption('#filters select[name="state"]', 'sent');
  await Promise.all([page.waitForFunction(() => location.hash.includes('state=sent')),
                     page.click('#filters button[type="submit"]')]);
  await page.waitForFunction(() => document.querySelector('#events-total').textContent.endsWith('of 4'));
  check(true, 'filtering by state=sent lists the 4 sent events');
  await show(page, '#/events');
  await page.fill('#search', String(ORDERS.vid));
  await Promise.all([page.waitForFunction(() => location.hash.includes('q=')),
                     page.click('#filters button[type="submit"]')]);
  await page.waitForFunction(() => document.querySelector('#events-total').textContent.endsWith('of 1'));
  const row = await page.textContent('#events-table tbody tr');
  check(row.includes(String(ORDERS.vid)) && row.includes('vid'), `search by order id finds the order (${row})`);
  await shoot(page, 'events');

  const ev = (await api(st, `/admin/events/${byOrder.email.id}`)).json;
  await show(page, `#/event/${ev.id}`);
  check((await page.textContent('#event-id')) === ev.event_id && ev.event_id === 'evt-email',
        'the event page shows the browser event_id the email match took');
  const decision = await page.textContent('#match-decision');
  check(/Matched a browser event/.test(decision) && (await page.textContent('#match')).includes('by email'),
        `the event page explains the match (${decision})`);
  const cands = await page.locator('#candidates tbody tr').count();
  check(cands === ev.match.candidates.length && cands >= 1, `the candidates of the match are listed (${cands})`);
  const attempts = await page.textContent('#attempts tbody');
  check(/sent/.test(attempts) && /200/.test(attempts) && /req-\d+/.test(attempts) && / ms/.test(attempts),
        `the attempt timeline shows the HTTP status, request id and latency (${attempts.replace(/\s+/g, ' ')})`);
  const payload = JSON.parse(await page.textContent('#payload'));
  check(JSON.stringify(payload) === JSON.stringify(ev.payload), 'the page shows the exact payload sent');
  const conv = await page.textContent('#conversion');
  check(!conv.includes('b@example.com') && conv.includes('email_hash'), 'the conversion is shown with hashes only');
  await shoot(page, 'event');
}

async function checkQuality(page, st) {
  await show(page, '#/quality');
  check(await page.locator('.uplot').count() === 5, 'five uPlot charts render');
  const report = (await api(st, '/admin/report')).json.rows.filter((r) => r.source === 'shop')[0];
  const crm = (await api(st, '/admin/report')).json.rows.filter((r) => r.source === 'crm')[0];
  const total = report.conversions + (crm ? crm.conversions : 0);
  check((await page.textContent('[data-q="conversions"]')) === String(total), `the quality totals count ${total} conversions`);
  for (const key of ['order_ref', 'email', 'vid']) {
    const want = `${Math.round((report.matched[key] / total) * 100)}%`;
    check((await page.textContent(`[data-q="matched_${key}"]`)) === want, `matched by ${key}: ${want}, as the report says`);
  }
  await shoot(page, 'quality');
}

async function checkReconciliation(page, st) {
  await show(page, '#/reconcile');
  const s = (await api(st, '/admin/status')).json.counts;
  const cell = async (col) => Number(await page.textContent(`#recon-total [data-col="${col}"]`));
  check(await cell('received') === 6, 'reconciliation: 6 conversions received');
  check(await cell('accepted') === s.sent, `reconciliation: ${s.sent} accepted by TikTok`);
  check(await cell('dead') === s.dead && s.dead === 1, 'reconciliation: 1 dead');
  check(await cell('pending') === 1, 'reconciliation: the paused pixel\'s lead is pending');
  await shoot(page, 'reconciliation');
}

async function checkSources(page, st, tiktok) {
  await show(page, '#/sources');
  check(await page.locator('[data-source]').count() === 2, 'both sources have a card');
  check((await page.textContent('[data-source="shop"]')).includes('/webhooks/shop'), 'the shop card shows its webhook path');
  const logged = (await api(st, '/admin/deliveries?source=shop')).json.deliveries;
  const refused = logged.find((d) => d.status === 401);
  check(await page.locator('#deliveries-shop tbody tr').count() === Math.min(10, logged.length),
        `the shop card lists its latest deliveries from the delivery log (${logged.length})`);
  const row = await page.textContent('#deliveries-shop [data-delivery-status="401"]');
  check(refused && row.includes(refused.reason), `the refused delivery is shown with its reason (${row})`);
  await page.click(`[data-test-pixel="${PIXEL}"]`);
  await page.waitForFunction(() => /queued/.test(document.querySelector('#test-result').textContent));
  await waitFor('the test event at the mock TikTok', 20000, () =>
    tiktok.requests.some((r) => r.body && r.body.test_event_code === TEST_CODE));
  check(true, 'the test-event button reaches TikTok with the pixel\'s test_event_code');
  await shoot(page, 'sources');
}

/* A form POST from another site (no cookie: SameSite=Strict) and from a same-site other
 * origin (cookie sent, but no CSRF token and a foreign Origin). */
async function checkCrossSite(context, st, deadId) {
  const routes = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<form method="POST" action="http://127.0.0.1:${st.adminPort}/admin/events/${deadId}/replay">` +
            '<input name="x" value="1"></form>');
  };
  const server = http.createServer(routes);
  const port = await listen(server);
  atCleanup(() => server.close());
  for (const [host, want, what] of [['localhost', 401, 'a cross-site'], ['127.0.0.1', 403, 'a same-site, cross-origin']]) {
    const page = await context.newPage();
    await page.goto(`http://${host}:${port}/`);
    /* What a form POST sends (a simple request, credentials per SameSite), without the
     * navigation. */
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/replay')),
      page.evaluate((u) => fetch(u, { method: 'POST', mode: 'no-cors', credentials: 'include',
                                      body: 'x=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
        .catch(() => null), `http://127.0.0.1:${st.adminPort}/admin/events/${deadId}/replay`)]);
    check(res.status() === want, `${what} POST to replay is refused with ${want} (${res.status()})`);
  }
  const ev = (await api(st, `/admin/events/${deadId}`)).json;
  check(ev.state === 'dead', 'the dead event was not replayed by the cross-site requests');
}

async function checkReplay(page, st, tiktok, dead) {
  const original = (await api(st, `/admin/events/${dead.id}`)).json;
  await show(page, '#/dead');
  check((await page.textContent('#dead-count')).startsWith('1 dead'), 'the dead-letter page counts 1 dead event');
  await shoot(page, 'dead');
  tiktok.rejectDead = false;
  const before = tiktok.requests.length;
  await page.click('#replay-all');
  check((await page.textContent('#confirm')).includes('Replay 1 dead event'), 'bulk replay shows the count before confirming');
  await page.click('#confirm-replay');
  await page.waitForFunction(() => /1 replayed, 0 refused\./.test(document.querySelector('#replay-result').textContent));
  check(true, 'the bulk replay reports its progress and result');
  const got = await waitFor('the replayed event at the mock TikTok', 20000, () => {
    for (const r of tiktok.requests.slice(before)) {
      const e = ((r.body && r.body.data) || []).find((d) => d.properties && d.properties.order_id === String(ORDERS.dead));
      if (e) return e;
    }
    return null;
  });
  check(got.event_id === original.event_id && got.event_time === original.event_time,
        `the replayed event reaches TikTok with its original event_id and event_time (${got.event_id})`);
  await waitFor('the replayed event to be sent', 10000, async () =>
    (await api(st, `/admin/events/${dead.id}`)).json.state === 'sent');
  await show(page, `#/event/${dead.id}`);
  const attempts = await page.textContent('#attempts tbody');
  check(/40002/.test(attempts) && /Invalid value/.test(attempts) && /sent/.test(attempts),
        'the replayed event\'s timeline shows the rejection and then the success');
}

async function checkSignOut(page, st, cookie) {
  await page.click('#logout');
  await page.waitForSelector('#signin-form', { state: 'visible' });
  const r = await api(st, '/admin/health', { auth: false, headers: { Cookie: `ttr_session=${cookie.value}` } });
  check(r.status === 401, 'after signing out the old session cookie answers 401');
}

run('dashboard browser test', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttr-dash-'));
  atCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(SHOTS, { recursive: true });
  const tiktok = await startTikTok();
  const st = await startDaemon(writeConfig(dir, tiktok.port));
  const byOrder = await seed(st, tiktok);
  await checkUnauthenticated(st, byOrder.dead.id);

  const context = await launchBrowser(dir);
  const page = await context.newPage();
  const errors = [];
  watch(page, errors);
  const cookie = await signIn(page, st, errors);
  await checkHealth(page, st);
  await shoot(page, 'overview');
  await checkEvents(page, st, byOrder);
  await checkQuality(page, st);
  await checkReconciliation(page, st);
  await checkSources(page, st, tiktok);
  await checkCrossSite(context, st, byOrder.dead.id);
  await checkReplay(page, st, tiktok, byOrder.dead);
  check(errors.length === 0, `no console errors, failed requests or HTTP errors on any page (${errors.join(' | ')})`);
  await checkSignOut(page, st, cookie);
  check(!/level=error/.test(daemonOutput().replace(/.*pixel (still )?paused.*\n?/g, '')),
        'the daemon logged no error besides the paused pixel');
  console.log(`# screenshots in ${SHOTS}`);
}, 280000);
