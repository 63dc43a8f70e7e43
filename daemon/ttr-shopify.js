/* ttrelay for Shopify's checkout: a custom pixel (Settings -> Customer events -> Add custom
 * pixel). Shopify's thank-you page runs no theme scripts, so ttr.js never sees the purchase
 * there; this pixel does. On checkout_completed it fires the TikTok pixel's CompletePayment
 * with an event_id derived from the order id, the same id ttrelayd gives that order's
 * server event, and reports the purchase to ttrelayd's /collect so the order's webhook
 * finds the visitor (click id, _ttp, email, phone).
 * Served by ttrelayd at /ttr-shopify.js?source=<source id>; the three constants below were
 * filled in from the request and the configuration. Check TTR_ENDPOINT: it is the address
 * this file was fetched from (scheme from X-Forwarded-Proto). */
const TTR_ENDPOINT = "__TTR_ENDPOINT__";   // ttrelayd's public listener, no trailing slash
const TTR_SOURCE = "__TTR_SOURCE__";       // the ttrelay source id of this shop's webhooks
const TTR_PIXEL = "__TTR_PIXEL__";         // the TikTok pixel the source's events go to

const TTR_VID_MAX_AGE = 400 * 86400;

/* TikTok's pixel base code (the queue stub and loader), loaded inside the sandbox, where
 * the theme's pixel does not exist. It is loaded on the first purchase only: on the
 * storefront the theme's own pixel already counts page views. */
function ttrLoadPixel() {
  if (window.ttq && window.ttq._i && window.ttq._i[TTR_PIXEL]) return window.ttq;
  (function (w, d, t) {
    w.TiktokAnalyticsObject = t;
    var ttq = w[t] = w[t] || [];
    ttq.methods = ['page', 'track', 'identify', 'instances', 'debug', 'on', 'off', 'once', 'ready',
                   'alias', 'group', 'enableCookie', 'disableCookie', 'holdConsent',
                   'revokeConsent', 'grantConsent'];
    ttq.setAndDefer = function (o, m) {
      o[m] = function () { o.push([m].concat(Array.prototype.slice.call(arguments, 0))); };
    };
    for (var i = 0; i < ttq.methods.length; i++) ttq.setAndDefer(ttq, ttq.methods[i]);
    ttq.instance = function (id) {
      for (var e = ttq._i[id] || [], n = 0; n < ttq.methods.length; n++) ttq.setAndDefer(e, ttq.methods[n]);
      return e;
    };
    ttq.load = function (id, opts) {
      var u = 'https://analytics.tiktok.com/i18n/pixel/events.js';
      ttq._i = ttq._i || {}; ttq._i[id] = []; ttq._i[id]._u = u;
      ttq._t = ttq._t || {}; ttq._t[id] = +new Date;
      ttq._o = ttq._o || {}; ttq._o[id] = opts || {};
      var s = d.createElement('script');
      s.type = 'text/javascript';
      s.async = true;
      s.src = u + '?sdkid=' + id + '&lib=' + t;
      (d.head || d.documentElement).appendChild(s);
    };
    ttq.load(TTR_PIXEL);
  })(window, document, 'ttq');
  return window.ttq;
}

function ttrHex(bytes) {
  var s = '';
  for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return s;
}

function ttrRandomHex(n) {
  var b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return ttrHex(b);
}

/* "ttr_" + hex SHA-256 of "<source>:order:<order id>": ttrelayd's id for this order when no
 * touch reaches it, so a lost beacon or a reloaded thank-you page still deduplicates.
 * crypto.subtle exists only in secure contexts; Shopify serves the sandbox over https, and
 * anywhere it is missing the event keeps a random id. */
function ttrEventId(orderId) {
  var random = function () { return 'ttr_' + ttrRandomHex(10); };
  if (!orderId || !(self.crypto && crypto.subtle && self.TextEncoder)) return Promise.resolve(random());
  return crypto.subtle.digest('SHA-256', new TextEncoder().encode(TTR_SOURCE + ':order:' + orderId))
    .then(function (d) { return 'ttr_' + ttrHex(new Uint8Array(d)); }, random);
}

/* The Web Pixels API gives "gid://shopify/Order/123"; webhooks carry the numeric id. */
function ttrOrderId(checkout) {
  var id = checkout.order && checkout.order.id;
  id = id === undefined || id === null ? '' : String(id);
  return id.replace(/^gid:\/\/shopify\/Order\//, '');
}

function ttrText(v) {
  return typeof v === 'string' ? v.trim() : typeof v === 'number' && isFinite(v) ? String(v) : '';
}

function ttrAttribute(checkout, name) {
  var attrs = Array.isArray(checkout.attributes) ? checkout.attributes : [];
  for (var i = 0; i < attrs.length; i++)
    if (attrs[i] && attrs[i].key === name) return ttrText(attrs[i].value);
  return '';
}

/* Each storage read resolves to '' on any failure: consent or the sandbox may refuse it. */
function ttrCookie(name) {
  return Promise.resolve().then(function () { return browser.cookie.get(name); })
    .then(ttrText, function () { return ''; });
}
function ttrStored(name) {
  return Promise.resolve().then(function () { return browser.localStorage.getItem(name); })
    .then(ttrText, function () { return ''; });
}

/* The visitor: the cart attribute ttr.js put on the theme's cart, else ttr.js's cookie on
 * the shop's domain, else one kept in this pixel's storage. */
function ttrVisitor(checkout) {
  var valid = function (v) { return /^[0-9a-f]{32}$/.test(v) ? v : ''; };
  var vid = valid(ttrAttribute(checkout, 'ttr_vid'));
  var found = vid ? Promise.resolve(vid) : ttrCookie('ttr_vid').then(function (c) {
    return valid(c) || ttrStored('ttr_vid').then(function (s) { return valid(s); });
  });
  return found.then(function (v) {
    v = v || ttrRandomHex(16);
    Promise.resolve().then(function () {
      browser.localStorage.setItem('ttr_vid', v);
      browser.cookie.set('ttr_vid=' + v + '; Max-Age=' + TTR_VID_MAX_AGE + '; Path=/; SameSite=Lax; Secure');
    }).catch(function () { /* not kept: the next purchase gets another id */ });
    return v;
  });
}

/* A simple request (POST, text/plain, no-cors): no preflight, and no CORS answer needed.
 * The sandbox's origin is opaque, so the request says "Origin: null". */
function ttrSend(msg) {
  Object.keys(msg).forEach(function (k) { if (msg[k] === '' || msg[k] === undefined) delete msg[k]; });
  try {
    fetch(TTR_ENDPOINT + '/collect', { method: 'POST', body: JSON.stringify(msg), keepalive: true,
                                       mode: 'no-cors', credentials: 'omit',
                                       headers: { 'Content-Type': 'text/plain' } })
      .catch(function () { /* the webhook still carries the order: it matches by email */ });
  } catch (e) { /* likewise */ }
}

analytics.subscribe('checkout_completed', function (event) {
  var checkout = (event && event.data && event.data.checkout) || {};
  var orderId = ttrOrderId(checkout);
  var total = checkout.totalPrice || {};
  var value = ttrText(total.amount);
  var currency = ttrText(checkout.currencyCode) || ttrText(total.currencyCode);
  var email = ttrText(checkout.email);
  var phone = ttrText(checkout.phone);
  var doc = (event && event.context && event.context.document) || {};
  var lines = Array.isArray(checkout.lineItems) ? checkout.lineItems : [];
  var contents = lines.map(function (item) {
    var variant = (item && item.variant) || {};
    var c = { content_id: ttrText(variant.id), content_type: 'product',
              content_name: ttrText(item && item.title), quantity: item && item.quantity };
    if (variant.price && typeof variant.price.amount === 'number') c.price = variant.price.amount;
    return c;
  }).filter(function (c) { return c.content_id; });

  Promise.all([ttrEventId(orderId), ttrVisitor(checkout), ttrCookie('ttr_ttclid'), ttrCookie('_ttp')])
    .then(function (r) {
      var eventId = r[0];
      var ttq = ttrLoadPixel();
      var user = {};
      if (email) user.email = email;
      if (phone) user.phone_number = phone;
      if (email || phone) ttq.identify(user);
      var props = { contents: contents, content_type: 'product' };
      if (orderId) props.order_id = orderId;
      if (value) props.value = Number(value);
      if (currency) props.currency = currency;
      ttq.track('CompletePayment', props, { event_id: eventId });
      ttrSend({ vid: r[1], event: 'CompletePayment', event_id: eventId, order_id: orderId,
                value: /^-?\d+(\.\d+)?$/.test(value) ? value : '', currency: currency,
                email: email, phone: phone, ttclid: r[2].slice(0, 255), ttp: r[3].slice(0, 159),
                url: ttrText(doc.location && doc.location.href), referrer: ttrText(doc.referrer),
                ts: Date.now() });
    });
});
