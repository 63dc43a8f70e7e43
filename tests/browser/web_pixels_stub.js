/* A stub of Shopify's Web Pixels API as a custom pixel sees it: the globals analytics,
 * browser and init. Shopify runs custom pixels in a "lax" sandbox, an iframe with
 * sandbox="allow-scripts" (an opaque origin, so requests say "Origin: null"); the test page
 * does the same. browser.cookie and browser.localStorage stand for the top frame's and
 * answer asynchronously, as Shopify's do. The test seeds them through window.__sandbox and
 * publishes customer events with window.__publish(name, event). */
(function () {
  var subscribers = {};
  var sandbox = { cookies: {}, storage: {}, cookieWrites: [] };
  window.__sandbox = sandbox;
  window.__publish = function (name, event) {
    (subscribers[name] || []).forEach(function (fn) { fn(event); });
    return (subscribers[name] || []).length;
  };
  window.analytics = {
    subscribe: function (name, fn) {
      (subscribers[name] = subscribers[name] || []).push(fn);
      return Promise.resolve(true);
    }
  };
  window.browser = {
    cookie: {
      get: function (name) { return Promise.resolve(sandbox.cookies[name] || ''); },
      /* set('name=value; attributes') or set(name, value) */
      set: function (a, b) {
        var pair = b === undefined ? a.split(';')[0] : a + '=' + b;
        var eq = pair.indexOf('=');
        sandbox.cookies[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
        sandbox.cookieWrites.push(b === undefined ? a : a + '=' + b);
        return Promise.resolve(pair);
      }
    },
    localStorage: {
      getItem: function (k) {
        return Promise.resolve(Object.prototype.hasOwnProperty.call(sandbox.storage, k) ? sandbox.storage[k] : null);
      },
      setItem: function (k, v) { sandbox.storage[k] = String(v); return Promise.resolve(); },
      removeItem: function (k) { delete sandbox.storage[k]; return Promise.resolve(); }
    }
  };
  window.init = {
    context: { document: { location: { href: 'https://shop.example/checkouts/cn/1/thank-you' },
                           referrer: '', title: 'Thank you' } },
    data: { customer: null, cart: null, shop: { name: 'ttr test shop', myshopifyDomain: 'ttr-browser-test.myshopify.com' } },
    customerPrivacy: { analyticsProcessingAllowed: true, marketingAllowed: true,
                       preferencesProcessingAllowed: true, saleOfDataAllowed: true }
  };
})();
