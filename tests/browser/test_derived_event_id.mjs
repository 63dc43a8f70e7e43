// Real-browser test of the derived event_id (issue 11, part 5): a thank-you page whose ttr.js
// tag says data-source="shop" fires CompletePayment with an order id and no event_id. Loaded
// twice, the pixel gets the same event_id both times, "ttr_" + hex SHA-256 of
// "shop:order:<order id>"; an event without an order id keeps a random id and keeps its
// place behind the purchase. With every /collect beacon blocked, the signed Shopify webhook
// for that order reaches the mock TikTok with that same event_id: the server derives it too.
//
// Run: TTRELAYD=/path/to/ttrelayd node tests/browser/test_derived_event_id.mjs

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HERE, admin, atCleanup, check, deliveredOrder, derivedEventId, fileRoute, launchBrowser,
         postShopifyOrder, run, shopifyOrder, sleep, startDaemon, startMockTikTok, startShop,
         waitFor, writeConfig } from './harness.mjs';

const ORDER_ID = 6123456789012;   // a Shopify order id: what the thank-you page and webhook carry
const EXPECTED = derivedEventId('shop', String(ORDER_ID));

function shopRoutes(state) {
  const html = fs.readFileSync(path.join(HERE, 'thankyou.html'), 'utf8');
  return {
    '/thank-you': () => html.replace('__TTR_SRC__', `http://127.0.0.1:${state.publicPort}/ttr.js`)
      .replace('__ORDER_ID__', String(ORDER_ID)),
    '/ttq_stub.js': fileRoute('ttq_stub.js', 'text/javascript'),
  };
}

/* The pixel stub's track calls once the page has fired both events. */
async function trackCalls(page) {
  await page.waitForFunction(() => window.__ttqCalls.filter((c) => c[0] === 'track').length >= 2,
                             null, { timeout: 10000 });
  await sleep(200);   // a third call, if any, would show up now
  return page.evaluate(() => window.__ttqCalls.filter((c) => c[0] === 'track'));
}

function checkLoad(n, calls) {
  check(calls.length === 2, `load ${n}: the pixel got exactly two track calls (${JSON.stringify(calls)})`);
  const [paid, viewed] = calls;
  check(paid[1] === 'CompletePayment' && viewed[1] === 'ViewContent',
        `load ${n}: they reach the pixel in the page's order, the derived one first`);
  check(paid[3] && paid[3].event_id === EXPECTED,
        `load ${n}: CompletePayment carries the derived event_id ${EXPECTED} (${JSON.stringify(paid[3])})`);
  check(JSON.stringify(paid[2]) === JSON.stringify({ order_id: String(ORDER_ID), value: 129.5, currency: 'EUR' }),
        `load ${n}: the CompletePayment properties reach the pixel unchanged`);
  check(viewed[3] && /^ttr_[0-9a-f]{20}$/.test(viewed[3].event_id),
        `load ${n}: ViewContent, without an order id, gets a random event_id (${JSON.stringify(viewed[3])})`);
  return viewed[3].event_id;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttr-derived-'));
  atCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = { publicPort: 0, adminPort: 0 };
  const tiktok = await startMockTikTok();
  const shopPort = await startShop(shopRoutes(state));
  Object.assign(state, await startDaemon(writeConfig(dir, tiktok.port, [`http://127.0.0.1:${shopPort}`])));
  console.log(`# ttrelayd public ${state.publicPort}, admin ${state.adminPort}, shop ${shopPort}, mock TikTok ${tiktok.port}`);

  const context = await launchBrowser(dir);
  const blocked = [];
  await context.route('**/collect', (route) => {
    blocked.push(route.request().postData());
    return route.abort();
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  await page.goto(`http://127.0.0.1:${shopPort}/thank-you`);
  const firstView = checkLoad(1, await trackCalls(page));
  const vid = await page.evaluate(() => window.ttr.vid);
  await page.reload();
  const secondView = checkLoad(2, await trackCalls(page));
  check(firstView !== secondView, 'the random ids differ between the loads');
  check(pageErrors.length === 0, `no page errors (${pageErrors.join('; ')})`);

  await waitFor('both loads to try their beacons', 5000, () => blocked.length >= 4);
  const paidBeacons = blocked.map((b) => JSON.parse(b)).filter((m) => m.event === 'CompletePayment');
  check(paidBeacons.length === 2 && paidBeacons.every((m) => m.event_id === EXPECTED &&
                                                       m.order_id === String(ORDER_ID)),
        'each blocked CompletePayment beacon carried the derived event_id and the order id');
  const touches = (await admin(state, `/admin/touches?vid=${vid}`)).touches || [];
  check(touches.length === 0, `the daemon stored no touch: the beacons were blocked (${touches.length})`);

  await postShopifyOrder(state, shopifyOrder({ id: ORDER_ID, email: 'nobody-seen@example.com' }),
                         'orders/create');
  const { event } = await deliveredOrder(tiktok, ORDER_ID);
  check(event.event_id === EXPECTED,
        `the order reaches the mock TikTok with the browser's event_id (${event.event_id})`);
  check(event.event === 'CompletePayment', `as CompletePayment (${event.event})`);
  const events = (await admin(state, '/admin/events')).events || [];
  const mine = events.find((e) => e.event_id === EXPECTED);
  check(mine && !mine.touch_id, `no touch was used: the server derived the id itself (${JSON.stringify(mine)})`);
}

await run('derived event_id test', main);
