// Real-browser test of the Shopify custom pixel (issue 11, part 6): the snippet served at
// /ttr-shopify.js?source=shop runs in a stub of Shopify's Web Pixels sandbox (an iframe with
// sandbox="allow-scripts", as Shopify's lax sandbox is, and analytics/browser/init globals).
// On checkout_completed it fires the TikTok pixel's CompletePayment with the event_id derived
// from the order id, reports the purchase to /collect (vid from the cart attribute, else
// ttr.js's cookie), and the signed webhook for that order reaches the mock TikTok with the
// same event_id and the click id that only the touch carried.
//
// Run: TTRELAYD=/path/to/ttrelayd node tests/browser/test_shopify_pixel.mjs

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { PIXEL, admin, atCleanup, check, deliveredOrder, derivedEventId, fileRoute, launchBrowser,
         postShopifyOrder, readBody, run, shopifyOrder, startDaemon, startMockTikTok, startShop, waitFor,
         writeConfig } from './harness.mjs';

const ORDER_A = '6123456789099';
const ORDER_B = '6123456789100';
const VID_A = 'a1'.repeat(16);
const VID_B = 'b2'.repeat(16);
const TTCLID = 'E.C.P.sandbox-click-1';
const EMAIL = 'buyer@example.com';
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

/* What the Web Pixels API hands a checkout_completed subscriber (the fields the snippet reads). */
function checkoutCompleted(orderGid, { attributes = [], amount = 59.9 } = {}) {
  return {
    id: crypto.randomUUID(), name: 'checkout_completed', type: 'standard',
    timestamp: new Date().toISOString(), clientId: 'c-1', seq: 3,
    context: { document: { location: { href: 'https://shop.example/checkouts/cn/1/thank-you' },
                           referrer: 'https://shop.example/cart' } },
    data: { checkout: {
      attributes, currencyCode: 'USD', email: ' Buyer@Example.com ', phone: null,
      totalPrice: { amount, currencyCode: 'USD' },
      order: { id: orderGid },
      lineItems: [{ title: 'Mug', quantity: 2,
                    variant: { id: '4242', price: { amount: 29.95, currencyCode: 'USD' } } }],
    } },
  };
}

/* node:http rather than fetch, which will not send a Host header of its own choosing. */
function fetchSnippet(state, query, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: state.publicPort, path: `/ttr-shopify.js${query}`, headers },
      async (res) => resolve({ status: res.statusCode, type: res.headers['content-type'],
                               cache: res.headers['cache-control'],
                               text: (await readBody(res)).toString('utf8') }))
      .on('error', reject);
  });
}

/* The route itself: filled in from the request and the configuration, or refused. */
async function checkRoute(state) {
  const ok = await fetchSnippet(state, '?source=shop');
  check(ok.status === 200 && /^application\/javascript/.test(ok.type) && ok.cache === 'no-store',
        `GET /ttr-shopify.js?source=shop answers 200 JavaScript, not cached (${ok.status} ${ok.type} ${ok.cache})`);
  check(ok.text.includes(`const TTR_ENDPOINT = "http://127.0.0.1:${state.publicPort}";`) &&
        ok.text.includes('const TTR_SOURCE = "shop";') && ok.text.includes(`const TTR_PIXEL = "${PIXEL}";`),
        'it names the relay it was fetched from, the source and the source\'s pixel');
  check(!ok.text.includes('__TTR_'), 'no placeholder is left');
  const proxied = await fetchSnippet(state, '?source=shop&pixel=COTHER123',
                                     { 'X-Forwarded-Proto': 'https', Host: 'relay.shop.example' });
  check(proxied.text.includes('const TTR_ENDPOINT = "https://relay.shop.example";') &&
        proxied.text.includes('const TTR_PIXEL = "COTHER123";'),
        'behind a TLS proxy it says https with the proxied host; pixel= overrides the pixel');
  const refusals = [['?source=nope', 404], ['', 400], ['?source=shop&pixel=C%22%3B', 400]];
  for (const [q, want] of refusals) {
    const r = await fetchSnippet(state, q);
    check(r.status === want, `GET /ttr-shopify.js${q} answers ${want} (${r.status} ${r.text})`);
  }
  return ok.text;
}

function shopRoutes(snippet) {
  return {
    '/checkouts/thank-you': () => '<!doctype html><title>Thank you</title>' +
      '<iframe id="pixel" sandbox="allow-scripts" src="/pixel-sandbox"></iframe>',
    '/pixel-sandbox': () => '<!doctype html><script src="/web_pixels_stub.js"></script>' +
      `<script>\n${snippet.text}\n</script>`,
    '/web_pixels_stub.js': fileRoute('web_pixels_stub.js', 'text/javascript'),
  };
}

async function checkPixel(frame, loaderUrls) {
  const expected = derivedEventId('shop', ORDER_A);
  const seen = await waitFor('the sandbox pixel to track CompletePayment', 10000, () => frame.evaluate(() =>
    window.ttq && Array.from(window.ttq).some((c) => c[0] === 'track')
      ? { calls: JSON.parse(JSON.stringify(Array.from(window.ttq))), pixels: Object.keys(window.ttq._i || {}) }
      : null));
  const tracks = seen.calls.filter((c) => c[0] === 'track');
  check(tracks.length === 1 && tracks[0][1] === 'CompletePayment',
        `the sandbox's TikTok pixel got one CompletePayment (${JSON.stringify(tracks)})`);
  const [, , props, opts] = tracks[0];
  check(opts && opts.event_id === expected,
        `with the event_id derived from order ${ORDER_A}: ${expected} (${JSON.stringify(opts)})`);
  check(props.order_id === ORDER_A && props.value === 59.9 && props.currency === 'USD' &&
        props.contents.length === 1 && props.contents[0].content_id === '4242' &&
        props.contents[0].quantity === 2,
        `with the order id (gid prefix stripped), value, currency and contents (${JSON.stringify(props)})`);
  const identify = seen.calls.find((c) => c[0] === 'identify');
  check(identify && identify[1].email === 'Buyer@Example.com',
        `the pixel is told the buyer's email for its own matching (${JSON.stringify(identify)})`);
  check(seen.pixels.length === 1 && seen.pixels[0] === PIXEL && loaderUrls.some((u) => u.includes(`sdkid=${PIXEL}`)),
        `the pixel base code loads pixel ${PIXEL} inside the sandbox (${loaderUrls.join(' ')})`);
  return expected;
}

async function checkTouch(state, vid, orderId) {
  const expected = derivedEventId('shop', orderId);
  const touches = await waitFor(`the daemon to store the touch of order ${orderId}`, 10000, async () => {
    const got = (await admin(state, `/admin/touches?vid=${vid}`)).touches || [];
    return got.length ? got : null;
  });
  check(touches.length === 1 && touches[0].event === 'CompletePayment' &&
        touches[0].event_id === expected && touches[0].order_id === orderId,
        `/collect stored order ${orderId}'s touch for visitor ${vid.slice(0, 8)}… with the derived event_id (${JSON.stringify(touches)})`);
  return touches[0];
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttr-shopify-pixel-'));
  atCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = { publicPort: 0, adminPort: 0 };
  const tiktok = await startMockTikTok();
  // Only "null" is allowed: the touch can arrive only from the sandbox's opaque origin.
  Object.assign(state, await startDaemon(writeConfig(dir, tiktok.port, ['null'])));
  const snippet = { text: await checkRoute(state) };
  const shopPort = await startShop(shopRoutes(snippet));
  console.log(`# ttrelayd public ${state.publicPort}, admin ${state.adminPort}, shop ${shopPort}, mock TikTok ${tiktok.port}`);

  const context = await launchBrowser(dir);
  const loaderUrls = [];
  await context.route('https://analytics.tiktok.com/**', (route) => {
    loaderUrls.push(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/javascript', body: '' });
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${shopPort}/checkouts/thank-you`);
  const frame = await waitFor('the sandbox frame', 10000, () =>
    page.frames().find((f) => f.url().endsWith('/pixel-sandbox') && f !== page.mainFrame()));
  await frame.waitForFunction(() => window.__publish && window.analytics);
  check(await frame.evaluate(() => window.origin) === 'null', 'the sandbox frame has an opaque origin');

  // Order A: the visitor id comes from the cart attribute ttr.js's theme code set.
  await frame.evaluate(({ ttclid }) => {
    window.__sandbox.cookies.ttr_ttclid = ttclid;
    window.__sandbox.cookies._ttp = 'sandbox-ttp-1';
  }, { ttclid: TTCLID });
  const subscribers = await frame.evaluate((ev) => window.__publish('checkout_completed', ev),
    checkoutCompleted(`gid://shopify/Order/${ORDER_A}`, { attributes: [{ key: 'ttr_vid', value: VID_A }] }));
  check(subscribers === 1, 'the snippet subscribed to checkout_completed');
  const expected = await checkPixel(frame, loaderUrls);
  const touchA = await checkTouch(state, VID_A, ORDER_A);
  check(touchA.email_hash === sha256(EMAIL) && touchA.ttclid === TTCLID && touchA.ttp === 'sandbox-ttp-1',
        `the touch carries the hashed email, ttclid and _ttp from the sandbox (${touchA.email_hash.slice(0, 12)}…, ${touchA.ttclid}, ${touchA.ttp})`);
  const stored = await frame.evaluate(() => window.__sandbox.storage.ttr_vid);
  check(stored === VID_A, `the visitor id is kept in the sandbox's browser.localStorage (${stored})`);

  // Order B: no cart attribute; ttr.js's ttr_vid cookie on the shop's domain names the visitor.
  await frame.evaluate((vid) => { window.__sandbox.cookies.ttr_vid = vid; }, VID_B);
  await frame.evaluate((ev) => window.__publish('checkout_completed', ev), checkoutCompleted(ORDER_B));
  await checkTouch(state, VID_B, ORDER_B);
  check(pageErrors.length === 0, `no page errors (${pageErrors.join('; ')})`);

  await postShopifyOrder(state, shopifyOrder({ id: Number(ORDER_A), email: EMAIL, total: '59.90',
                                               noteAttributes: [{ name: 'ttr_vid', value: VID_A }] }));
  const { event } = await deliveredOrder(tiktok, ORDER_A);
  check(event.event_id === expected, `order ${ORDER_A} reaches the mock TikTok with the pixel's event_id (${event.event_id})`);
  check(event.user && event.user.ttclid === TTCLID,
        `with the click id only the sandbox's touch carried (${JSON.stringify(event.user)})`);
  const events = (await admin(state, '/admin/events')).events || [];
  const mine = events.find((e) => e.object_id === ORDER_A);
  check(mine && mine.touch_id === touchA.id, `matched to that touch (${mine && mine.matched_by}, touch ${mine && mine.touch_id})`);
}

await run('Shopify custom pixel test', main);
