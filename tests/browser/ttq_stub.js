/* TikTok's pixel base code (queue stub), unchanged except that ttq.load does not fetch
 * analytics.tiktok.com: every call is also recorded into window.__ttqCalls so the test
 * can see exactly what the pixel would have received. */
window.__ttqCalls = [];
!function (w, d, t) {
  w.TiktokAnalyticsObject = t;
  var ttq = w[t] = w[t] || [];
  ttq.methods = ["page", "track", "identify", "instances", "debug", "on", "off", "once", "ready",
                 "alias", "group", "enableCookie", "disableCookie", "holdConsent", "revokeConsent",
                 "grantConsent"];
  ttq.setAndDefer = function (t, e) {
    t[e] = function () {
      var call = [e].concat(Array.prototype.slice.call(arguments, 0));
      w.__ttqCalls.push(call);
      t.push(call);
    };
  };
  for (var i = 0; i < ttq.methods.length; i++) ttq.setAndDefer(ttq, ttq.methods[i]);
  ttq.instance = function (t) {
    for (var e = ttq._i[t] || [], n = 0; n < ttq.methods.length; n++) ttq.setAndDefer(e, ttq.methods[n]);
    return e;
  };
  ttq.load = function (e, n) {
    var r = "https://analytics.tiktok.com/i18n/pixel/events.js";
    ttq._i = ttq._i || {}, ttq._i[e] = [], ttq._i[e]._u = r, ttq._t = ttq._t || {}, ttq._t[e] = +new Date,
      ttq._o = ttq._o || {}, ttq._o[e] = n || {};
  };
  ttq.load('CTEST0000000000000001');
  ttq.page();
}(window, document, 'ttq');
