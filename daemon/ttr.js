/* ttr.js: ttrelay's browser script. It gives every TikTok pixel event an event_id (so the
 * server copy of the same conversion is deduplicated), and reports each event, the visitor
 * id, ttclid, _ttp and typed email/phone to ttrelayd's POST /collect, where they become
 * touches. Load it after the pixel base code:
 *   <script async src="https://relay.example/ttr.js" data-source="shop"></script>
 * data-endpoint="https://…" on the tag overrides where it reports to. data-source names the
 * ttrelay source of this site's orders: an order event (CompletePayment, Purchase,
 * PlaceAnOrder) with an order_id and no event_id then gets an id derived from the order id,
 * the one ttrelayd gives that order when no touch reaches it. Nothing is captured while
 * window.ttrConsent === false, the browser sends Global Privacy Control, or the site called
 * ttq.revokeConsent(): only that state is reported ({vid, consent: "denied"}), so that the
 * server applies its consent policy to this visitor's orders too. */
(function () {
  'use strict';
  if (window.ttr && window.ttr.vid) return;

  var VID_COOKIE = 'ttr_vid';
  var TTCLID_COOKIE = 'ttr_ttclid';
  var VID_MAX_AGE = 400 * 86400;   /* the longest lifetime browsers grant a cookie */
  var TTCLID_MAX_AGE = 30 * 86400;
  var POLL_MS = 200, POLL_TICKS = 50;   /* watch for the pixel for 10 s, then stop */
  var FORM_FIELDS = 'input[type=email], input[type=tel], input[name*=email i], input[name*=phone i]';

  function randomHex(bytes) {
    var buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf);
    var s = '';
    for (var i = 0; i < buf.length; i++) s += (buf[i] < 16 ? '0' : '') + buf[i].toString(16);
    return s;
  }

  function newEventId() {
    return 'ttr_' + randomHex(10);
  }

  /* ttrelayd's id for an order no touch reached: "ttr_" + hex SHA-256 of
   * "<source>:order:<order id>". Resolves to '' when it cannot be computed: crypto.subtle
   * exists only in secure contexts (https, localhost), and a plain-http page keeps the
   * random id; its server copy then matches only through the beacon. */
  function derivedEventId(source, orderId) {
    var subtle = window.crypto && window.crypto.subtle;
    if (!subtle || typeof subtle.digest !== 'function' || typeof TextEncoder !== 'function')
      return Promise.resolve('');
    try {
      var data = new TextEncoder().encode(source + ':order:' + orderId);
      return subtle.digest('SHA-256', data).then(function (digest) {
        var b = new Uint8Array(digest), s = 'ttr_';
        for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
        return s;
      }, function () { return ''; });
    } catch (e) {
      return Promise.resolve('');
    }
  }

  function mark(fn) {
    fn.ttr = true;
    return fn;
  }

  function cookieGet(name) {   /* names here are plain [a-z_] */
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    try { return m ? decodeURIComponent(m[1]) : ''; } catch (e) { return ''; }
  }

  function cookieSet(name, value, maxAge) {
    document.cookie = name + '=' + encodeURIComponent(value) + '; Max-Age=' + maxAge +
      '; Path=/; SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');
  }

  /* localStorage throws in some private modes and sandboxed frames. */
  function storageGet(name) {
    try { return window.localStorage.getItem(name) || ''; } catch (e) { return ''; }
  }
  function storageSet(name, value) {
    try { window.localStorage.setItem(name, value); } catch (e) { /* cookie still holds it */ }
  }

  function scriptTag() {
    return document.currentScript || document.querySelector('script[src*="/ttr.js"]');
  }

  function scriptBase(el) {
    var endpoint = el && el.getAttribute('data-endpoint');
    if (endpoint) return endpoint.replace(/\/+$/, '');
    /* The directory of the script: its origin when served at /ttr.js, and still right
     * when a proxy mounts ttrelayd under a path. */
    if (el && el.src) return el.src.replace(/\/[^\/?#]*([?#].*)?$/, '');
    return location.origin;
  }

  var tag = scriptTag();
  var base = scriptBase(tag);
  var scope = (tag && tag.getAttribute('data-source')) || '';
  var vid = cookieGet(VID_COOKIE) || storageGet(VID_COOKIE);
  if (!/^[0-9a-f]{32}$/.test(vid)) vid = randomHex(16);
  var ttclid = new URLSearchParams(location.search).get('ttclid') || cookieGet(TTCLID_COOKIE);
  ttclid = ttclid.slice(0, 255);

  /* ttr.vid goes into cart attributes, order meta or Stripe metadata (match rule 3);
   * ttr.eventId() makes an id a site can share between ttq.track and its own webhook. */
  var api = { vid: vid, lastEventId: '', eventId: newEventId };
  window.ttr = api;

  var pixelConsent = null;   /* false after ttq.revokeConsent(), true after grantConsent() */
  var reported = '';         /* the consent state last reported to the server */
  function consented() {
    return window.ttrConsent !== false && navigator.globalPrivacyControl !== true &&
      pixelConsent !== false;
  }

  /* An opt-out is reported with the vid alone: nothing the visitor did not already give. */
  function reportConsent() {
    var state = consented() ? 'granted' : 'denied';
    var prev = reported;
    if (state === prev) return;
    reported = state;
    if (state === 'denied' || prev === 'denied') post({ vid: vid, consent: state });
  }
  api.setConsent = function (granted) { window.ttrConsent = !!granted; reportConsent(); };

  /* Identifiers are written to storage only while consent holds, and refreshed on each send. */
  function persist() {
    cookieSet(VID_COOKIE, vid, VID_MAX_AGE);
    storageSet(VID_COOKIE, vid);
    if (ttclid) cookieSet(TTCLID_COOKIE, ttclid, TTCLID_MAX_AGE);
  }

  function send(fields) {
    if (!consented()) { reportConsent(); return; }
    persist();
    reported = 'granted';
    var msg = { vid: vid, ttclid: ttclid, ttp: cookieGet('_ttp').slice(0, 159),
                url: location.href, referrer: document.referrer, ts: Date.now(),
                consent: 'granted' };
    Object.keys(fields).forEach(function (k) { msg[k] = fields[k]; });
    Object.keys(msg).forEach(function (k) {
      if (msg[k] === '' || msg[k] === undefined || msg[k] === null) delete msg[k];
    });
    post(msg);
  }

  function post(msg) {
    var body = JSON.stringify(msg);
    var url = base + '/collect';
    try {
      /* text/plain keeps the beacon a simple request: no CORS preflight. */
      if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) { /* fall through to fetch */ }
    if (window.fetch) {
      fetch(url, { method: 'POST', body: body, keepalive: true, mode: 'cors', credentials: 'omit' })
        .catch(function () { /* the pixel still has the event; the server copy matches by email or order */ });
    }
  }

  /* The full pixel may replay queued calls through track again, and a global track may
   * delegate to each instance's track: report each capture once. */
  var seen = {};
  var seenCount = 0;
  function firstTime(key) {
    if (seen[key]) return false;
    if (++seenCount > 1000) { seen = {}; seenCount = 1; }
    seen[key] = true;
    return true;
  }

  function text(v) {
    return typeof v === 'string' ? v : (typeof v === 'number' && isFinite(v) ? String(v) : '');
  }

  function recordEvent(event, props, eventId) {
    if (typeof event !== 'string' || !/^\w{1,63}$/.test(event)) return;
    if (!firstTime('e:' + event + ':' + eventId)) return;
    var p = props && typeof props === 'object' ? props : {};
    var contents = Array.isArray(p.contents) ? p.contents : [];
    var first = contents[0] && typeof contents[0] === 'object' ? contents[0] : {};
    var value = text(p.value).trim();
    if (!/^-?\d+(\.\d+)?$/.test(value)) value = '';
    api.lastEventId = eventId;
    send({ event: event, event_id: eventId, value: value, currency: text(p.currency),
           order_id: text(p.order_id), content_id: text(p.content_id) || text(first.content_id) });
  }

  function recordContact(email, phone) {
    email = text(email).trim();
    phone = text(phone).trim();
    if (!email && !phone) return;
    if (!firstTime('c:' + email + '\n' + phone)) return;
    send({ email: email, phone: phone });
  }

  var ORDER_EVENTS = { CompletePayment: 1, Purchase: 1, PlaceAnOrder: 1 };

  /* The order id an event's id is derived from, or '' when it gets a random one. */
  function orderIdFor(event, props) {
    if (!scope || !ORDER_EVENTS.hasOwnProperty(event) || !props || typeof props !== 'object')
      return '';
    return text(props.order_id).trim();
  }

  /* While an event_id is being derived (crypto.subtle is asynchronous), this and every
   * later track call wait in one chain, so the pixel receives them in the site's order.
   * A call made from inside a delivered one (a global track delegating to an instance's)
   * is part of it and goes through at once. */
  var pending = null, waiting = 0, delivering = false;

  function wrapTrack(orig) {
    return function (event, props, opts) {
      var self = this;
      var args = Array.prototype.slice.call(arguments);
      var o = opts && typeof opts === 'object' ? opts : {};
      var given = o.event_id;
      var hasId = given !== undefined && given !== null && given !== '';
      var orderId = hasId ? '' : orderIdFor(event, props);

      function deliver(eventId) {
        if (!hasId) {
          while (args.length < 2) args.push(undefined);
          args[2] = Object.assign({}, o, { event_id: eventId });
        }
        try { recordEvent(event, props, String(eventId)); } catch (e) { /* never break the site's call */ }
        var result = orig.apply(self, args);
        ensure();
        return result;
      }
      function deliverLater(eventId) {
        delivering = true;
        try {
          deliver(eventId === '' ? newEventId() : eventId);
        } catch (e) { /* the pixel threw: the calls behind this one still go through */ }
        delivering = false;
        if (--waiting === 0) pending = null;
      }

      if (!orderId && (!waiting || delivering)) return deliver(hasId ? given : newEventId());
      var id = orderId ? derivedEventId(scope, orderId) : (hasId ? given : newEventId());
      waiting++;
      pending = (pending || Promise.resolve()).then(function () { return id; })
        .then(deliverLater, function () { deliverLater(''); });
      return self;
    };
  }

  function wrapIdentify(orig) {
    return function (user) {
      try {
        var u = user && typeof user === 'object' ? user : {};
        recordContact(u.email || u.sha256_email, u.phone_number || u.phone || u.sha256_phone_number);
      } catch (e) { /* never break the site's call */ }
      return orig.apply(this, arguments);
    };
  }

  function wrapInstance(orig) {
    return function () {
      var inst = orig.apply(this, arguments);
      hookQueue(inst);
      return inst;
    };
  }

  /* Keeps obj[name] wrapped even when the queue stub or the full pixel assigns it again:
   * the property becomes an accessor that wraps every function stored into it. */
  function hook(obj, name, wrap) {
    var d;
    try { d = Object.getOwnPropertyDescriptor(obj, name); } catch (e) { return; }
    if (d && d.get && d.get.ttr) return;
    var wrapped;
    var store = function (fn) { wrapped = typeof fn === 'function' && !fn.ttr ? mark(wrap(fn)) : fn; };
    store(obj[name]);
    var getter = mark(function () { return wrapped; });
    try {
      if (d && !d.configurable) throw new TypeError('fixed');
      Object.defineProperty(obj, name, { configurable: true, enumerable: true, get: getter, set: store });
    } catch (e) {
      try { if (obj[name] !== wrapped) obj[name] = wrapped; } catch (e2) { /* frozen: leave it */ }
    }
  }

  function wrapConsent(granted) {
    return function (orig) {
      return function () {
        try { pixelConsent = granted; reportConsent(); } catch (e) { /* never break the site */ }
        return orig.apply(this, arguments);
      };
    };
  }

  function hookQueue(q) {
    if (!q || (typeof q !== 'object' && typeof q !== 'function')) return;
    hook(q, 'track', wrapTrack);
    hook(q, 'identify', wrapIdentify);
    hook(q, 'revokeConsent', wrapConsent(false));
    hook(q, 'grantConsent', wrapConsent(true));
  }

  function ensure() {
    var q = window.ttq;
    if (!q || (typeof q !== 'object' && typeof q !== 'function')) return;
    hookQueue(q);
    hook(q, 'instance', wrapInstance);
    var instances = q._i;
    if (instances && typeof instances === 'object') {
      Object.keys(instances).forEach(function (k) { hookQueue(instances[k]); });
    }
  }

  /* Catches window.ttq being defined after this script, or replaced by the full pixel. */
  function watchGlobal() {
    var d = Object.getOwnPropertyDescriptor(window, 'ttq');
    if (d && (!d.configurable || d.get)) return;
    var current = window.ttq;
    try {
      Object.defineProperty(window, 'ttq', {
        configurable: true, enumerable: true,
        get: function () { return current; },
        set: function (v) { current = v; ensure(); }
      });
    } catch (e) { /* the bounded poll below still finds it */ }
  }

  watchGlobal();
  ensure();
  var ticks = 0;
  var timer = setInterval(function () {
    ensure();
    if (++ticks >= POLL_TICKS) clearInterval(timer);
  }, POLL_MS);

  /* Capture phase on the document: fields added later and forms that stop propagation
   * are seen too. Checkboxes such as "email_opt_in" fail the shape test and are skipped. */
  document.addEventListener('change', function (ev) {
    var el = ev.target;
    if (!el || !el.matches || !el.matches(FORM_FIELDS)) return;
    var v = text(el.value).trim();
    if (el.type === 'email' || /email/i.test(el.name || '')) {
      if (/^[^\s@]+@[^\s@]+$/.test(v)) recordContact(v, '');
    } else if ((v.match(/\d/g) || []).length >= 7) {
      recordContact('', v);
    }
  }, true);

  if (consented()) persist();
  else reportConsent();
})();
