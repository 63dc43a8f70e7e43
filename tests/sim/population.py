"""The simulated population and its timeline: who the shoppers are, which browsers they use,
what each browser reports to POST /collect, which webhooks the shops send, and the ground
truth of every conversion. Everything here is decided by the seed alone; sim.py plays it.

Times are seconds from the start of the run. The timeline is compressed (a session lasts
seconds) but every ordering that matters keeps a margin of at least MARGIN_S against the
hold: a thank-you beacon planned "after the hold" is at least 1.5 s after it."""

import hashlib
import random

MARGIN_S = 1.0

# Browser builds. An office shares one build; phones come from a small pool, so strangers
# behind one carrier NAT often share an IP *and* a user agent, as they do in life.
DESKTOP_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
]
MOBILE_UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_37.2.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; 2201117TG Build/UKQ1.231003.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36 trill_370203 JsSdk/1.0 NetType/MOBILE Channel/googleplay AppName/trill app_version/37.2.3 ByteLocale/en",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
]

FIRST = ["jon", "jane", "amir", "li", "sofia", "lukas", "emma", "noah", "mia", "oliver", "ava",
         "yusuf", "chloe", "mateo", "hana", "leon", "zoe", "ivan", "nora", "kai"]
LAST = ["doe", "smith", "khan", "wang", "garcia", "muller", "brown", "tanaka", "rossi", "nowak",
        "okafor", "silva", "jones", "martin", "kowalski", "lee", "ivanova", "haddad"]
DOMAINS = ["example.com", "mail.example", "example.org", "post.example.net"]

COUNTRIES = {  # code: (weight, currency, phone maker)
    "US": (50, "USD"),
    "GB": (30, "GBP"),
    "DE": (20, "EUR"),
}

# The sites. order_ids: the thank-you event carries the order id and the script tag
# data-source, so ttr.js derives its event_id ("ttr_" + sha256("<source>:order:<id>"));
# vid: the site copies ttr.vid into the order (cart attribute, order meta, Stripe
# client_reference_id, Calendly utm_content); event_id_meta: the site makes the event_id at
# checkout and stores it in the order. pixel_value: what the pixel event's value holds.
SITES = {
    "shop": dict(type="shopify", origin="https://shop-a.example", order_ids=True, vid=True,
                 event_id_meta=False, pixel_value="total", thanks="CompletePayment",
                 note="Shopify + ttrelay Customer Events snippet (order id, email on the beacon)"),
    "shopb": dict(type="shopify", origin="https://shop-b.example", order_ids=False, vid=False,
                  event_id_meta=False, pixel_value="subtotal", thanks="CompletePayment",
                  note="Shopify, legacy order-status script: no order id, no vid"),
    "woo": dict(type="woocommerce", origin="https://woo-a.example", order_ids=True, vid=True,
                event_id_meta=False, pixel_value="total", thanks="CompletePayment",
                note="WooCommerce, order-received event with the order id, ttr_vid meta"),
    "woob": dict(type="woocommerce", origin="https://woo-b.example", order_ids=False, vid=False,
                 event_id_meta=True, pixel_value="subtotal", thanks="Purchase",
                 note="WooCommerce, site-made event_id in order meta, no order id on the event"),
    "pay": dict(type="stripe", origin="https://pay.example", order_ids=True, vid=True,
                event_id_meta=False, pixel_value="total", thanks="CompletePayment",
                note="Stripe Checkout, success page reports the session id, vid in client_reference_id"),
    "cal": dict(type="calendly", origin="https://book.example", order_ids=False, vid=True,
                event_id_meta=False, pixel_value=None, thanks="Schedule",
                note="Calendly embed, Schedule event, vid in tracking.utm_content"),
}
WEB_SHOPS = ["shop", "shopb", "woo", "woob", "pay"]
SITE_WEIGHTS = {"shop": 27, "shopb": 14, "woo": 18, "woob": 10, "pay": 11, "cal": 14}
SECRETS = {
    "shop": "shpss_sim_shop_a", "shopb": "shpss_sim_shop_b", "woo": "woo sim secret a",
    "woob": "woo sim secret b", "pay": "whsec_sim_pay", "cal": "calendly-sim-key",
}


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


def derived_event_id(source_id, order_id):
    """ttr.js's id for an order-group event with an order id (and the server's
    deterministic id of that Shopify/WooCommerce order)."""
    return "ttr_" + sha256_hex("%s:order:%s" % (source_id, order_id))


def money(x):
    return "%.2f" % x


class Device:
    def __init__(self, key, kind, ua, vid, blocked, home_ip=None, office_ip=None, nat_ip=None):
        self.key = key
        self.kind = kind            # "desktop" | "phone"
        self.ua = ua
        self.vid = vid
        self.blocked = blocked      # ad blocker: no pixel, no ttr.js, no beacons
        self.home_ip = home_ip
        self.office_ip = office_ip
        self.nat_ip = nat_ip
        self.ttclid = ""            # ttr.js's ttr_ttclid cookie
        self.lang = "en-US,en;q=0.9"  # Accept-Language (ttrelayd takes a national phone's country from it)
        self.ttp = ""
        self.users = set()          # shopper indexes who used it


class Shopper:
    def __init__(self, idx):
        self.idx = idx
        self.tags = set()
        self.devices = []
        self.convs = []
        self.call = None


class Beacon:
    """One POST /collect as ttr.js sends it. lost: the browser never delivered it (the
    pixel event itself still reached TikTok)."""
    __slots__ = ("t", "shopper", "device", "ip", "ua", "origin", "body", "lost", "role", "conv",
                 "act", "email_norm", "phone_usable", "phone_tag")

    def __init__(self, t, shopper, device, ip, origin, body, lost, role, conv=None):
        self.t, self.shopper, self.device, self.ip = t, shopper, device, ip
        self.ua, self.origin, self.body, self.lost = device.ua, origin, body, lost
        self.role, self.conv, self.act = role, conv, None
        self.email_norm = None      # the typed email, normalized (None: none or not this one)
        self.phone_usable = None    # the typed phone's E.164 when a beacon can normalize it
        self.phone_tag = None


class Webhook:
    """One signed delivery. build(ctx) makes (body bytes, headers) at send time."""
    __slots__ = ("t", "source", "conv", "topic", "spec", "act")

    def __init__(self, t, source, conv, topic, spec):
        self.t, self.source, self.conv, self.topic, self.spec = t, source, conv, topic, spec
        self.act = None


class Conversion:
    def __init__(self, idx, shopper, site, kind):
        self.idx = idx
        self.shopper = shopper      # Shopper or None (renewal of an outside subscriber)
        self.site = site
        self.kind = kind            # "order" | "call"
        self.tags = set()
        self.order_id = None        # properties.order_id the server should send
        self.object_id = None
        self.refs = set()
        self.pixel = []             # [(event name, event_id)] the pixel sent to TikTok
        self.pixel_device = None
        self.beacons = []           # beacons carrying this conversion's pixel event ids
        self.webhooks = []
        self.t0 = 0.0
        self.value = None
        self.currency = None
        self.email = None           # the order's email as the sender writes it
        self.email_norm = None
        self.phone_e164 = None
        self.wh_vid = ""            # visitor id carried by the signed webhook
        self.wh_event_id = ""       # explicit event_id carried by the signed webhook
        self.wh_ip = ""
        self.wh_ua = ""
        self.landing_ttclid = ""    # ttclid in the webhook's landing URL
        self.session_ip = ""
        self.derived = False        # the pixel's id equals the server's deterministic id
        self.alt_ids = set()        # other order_ids a wrong split of this payment would carry
        self.expected_events = 1    # server events TikTok should get (renewals: 0 when ignored)
        self.buy_device = None

    @property
    def pixel_ids(self):
        return [eid for _, eid in self.pixel]


class Plan:
    def __init__(self, seed, shoppers, hold_s, spread_s=None, renewals_sent=False):
        self.rng = random.Random(seed)
        self.seed = seed
        self.n = shoppers
        self.hold = float(hold_s)
        self.renewals_sent = renewals_sent
        self.spread = spread_s if spread_s else max(30.0, shoppers * 0.18)
        self.shoppers = []
        self.devices = []
        self.beacons = []
        self.webhooks = []
        self.convs = []
        self.counters = {"shop": 1000, "shopb": 60000, "woo": 14500, "woob": 30000}
        self.shopify_id = 5600000000000
        self.nat_ips = ["172.56.%d.%d" % (i, 7 + i) for i in range(1, 5)]
        self._ips = set()
        self.build()

    # -- small helpers ---------------------------------------------------------------
    def chance(self, p):
        return self.rng.random() < p

    def u(self, a, b):
        return self.rng.uniform(a, b)

    def hexid(self, n):
        return "%0*x" % (n, self.rng.getrandbits(4 * n))

    def rand_event_id(self):
        return "ttr_" + self.hexid(20)

    def public_ip(self):
        while True:
            ip = "%d.%d.%d.%d" % (self.rng.choice([24, 73, 81, 86, 92, 109, 151, 188, 212]),
                                  self.rng.randrange(256), self.rng.randrange(256),
                                  self.rng.randrange(1, 255))
            if ip not in self._ips:
                self._ips.add(ip)
                return ip

    def new_device(self, kind, country, ua=None, home_ip=None, office_ip=None, blocked=None):
        if ua is None:
            ua = self.rng.choice(DESKTOP_UAS if kind == "desktop" else MOBILE_UAS)
        if blocked is None:
            blocked = self.chance(0.25 if kind == "desktop" else 0.08)
        d = Device(len(self.devices), kind, ua, self.hexid(32), blocked, home_ip, office_ip,
                   self.rng.choice(self.nat_ips) if kind == "phone" else None)
        d.ttp = self.hexid(27)
        langs = {"US": "en-US,en;q=0.9", "GB": "en-GB,en;q=0.9", "DE": "de-DE,de;q=0.9,en;q=0.8"}
        # Some browsers send a language without a region, or another country's.
        d.lang = self.rng.choice(["en", "en-US,en;q=0.9"]) if self.chance(0.12) else langs[country]
        self.devices.append(d)
        return d

    def session_ip(self, dev):
        if dev.kind == "desktop":
            return dev.office_ip or dev.home_ip
        # A phone is on the carrier's NAT or on the home wifi, per session.
        return dev.nat_ip if (not dev.home_ip or self.chance(0.55)) else dev.home_ip

    # -- population ------------------------------------------------------------------
    def build(self):
        rng = self.rng
        # Households (shared home IP).
        while len(self.shoppers) < self.n:
            size = min(rng.choices([1, 2, 3, 4], [80, 14, 4, 2])[0], self.n - len(self.shoppers))
            home_ip = self.public_ip()
            members = []
            for _ in range(size):
                s = Shopper(len(self.shoppers))
                s.home_ip = home_ip
                s.household = members
                members.append(s)
                self.shoppers.append(s)
            if size > 1:
                for s in members:
                    s.tags.add("household")
        for s in self.shoppers:
            c = rng.choices(list(COUNTRIES), [v[0] for v in COUNTRIES.values()])[0]
            s.country, s.currency = c, COUNTRIES[c][1]
            s.first, s.last = rng.choice(FIRST), rng.choice(LAST)
            s.email = "%s.%s%d@%s" % (s.first, s.last, s.idx, rng.choice(DOMAINS))
            s.phone = self.phone_for(s)
            s.ttclid = ("E.C.P." + self.hexid(24)) if self.chance(0.5) else ""
            s.site = rng.choices(list(SITE_WEIGHTS), list(SITE_WEIGHTS.values()))[0]
            s.office = None
        # Offices: a few shoppers work in one office and shop from its desktops, which share
        # the office's public IP and one browser build.
        pool = [s for s in self.shoppers]
        rng.shuffle(pool)
        n_office = int(self.n * 0.14)
        k = 0
        while k < n_office:
            size = rng.randint(3, 8)
            ip, ua = self.public_ip(), rng.choice(DESKTOP_UAS[:4])
            for s in pool[k:k + size]:
                s.office = (ip, ua)
                s.tags.add("office")
            k += size
        # Devices.
        for s in self.shoppers:
            if s.office:
                d = self.new_device("desktop", s.country, ua=s.office[1], office_ip=s.office[0])
                s.devices.append(d)
                if self.chance(0.4):
                    s.devices.append(self.new_device("phone", s.country, home_ip=s.home_ip))
            elif self.chance(0.6):
                s.devices.append(self.new_device("phone", s.country, home_ip=s.home_ip))
                if self.chance(0.3):
                    s.devices.append(self.new_device("desktop", s.country, home_ip=s.home_ip))
            else:
                s.devices.append(self.new_device("desktop", s.country, home_ip=s.home_ip))
                if self.chance(0.3):
                    s.devices.append(self.new_device("phone", s.country, home_ip=s.home_ip))
        # A shared family computer: a member buys on another member's desktop (same vid).
        for s in self.shoppers:
            hh = s.household
            if len(hh) > 1 and s is not hh[0] and not s.office and self.chance(0.2):
                shared = [d for d in hh[0].devices if d.kind == "desktop" and not d.office_ip]
                if shared:
                    s.devices.insert(0, shared[0])
                    s.tags.add("shared_device")
        for s in self.shoppers:
            for d in s.devices:
                d.users.add(s.idx)
        # What each shopper does.
        for s in self.shoppers:
            t = self.u(0, self.spread)
            role = self.rng.random()
            if role < 0.10:
                self.browse_only(s, t)
            elif s.site == "cal":
                self.booking(s, t)
            else:
                self.buyer(s, t)
        self.renewals(self.renewals_sent)

    def phone_for(self, s):
        n = s.idx
        if s.country == "US":
            return "+1404555%04d" % (n % 10000) if n < 10000 else "+1678555%04d" % (n % 10000)
        if s.country == "GB":
            return "+447700%06d" % (900000 + n)
        return "+49151%08d" % (23000000 + n)

    # -- typed forms -----------------------------------------------------------------
    def typed_email(self, s):
        e = s.email
        return self.rng.choice([e, "  " + e, e[0].upper() + e[1:], e.upper(), e + " "])

    def typed_phone(self, s):
        """(text, usable_on_beacon, tag). A beacon has no country, so only an
        international form can be normalized; the trunk-zero forms ('+44 07700 …') are
        international forms people really type."""
        p = s.phone
        if s.country == "US":
            forms = [("+1 (%s) %s-%s" % (p[2:5], p[5:8], p[8:]), True, "phone_intl"),
                     ("(%s) %s-%s" % (p[2:5], p[5:8], p[8:]), False, "phone_national")]
        elif s.country == "GB":
            forms = [("+44 %s %s" % (p[3:7], p[7:]), True, "phone_intl"),
                     ("+44 0%s %s" % (p[3:7], p[7:]), True, "phone_trunk0"),
                     ("0%s %s" % (p[3:7], p[7:]), False, "phone_national")]
        else:
            forms = [("+49 %s %s" % (p[3:6], p[6:]), True, "phone_intl"),
                     ("+49 0%s %s" % (p[3:6], p[6:]), True, "phone_trunk0"),
                     ("0%s %s" % (p[3:6], p[6:]), False, "phone_national")]
        return self.rng.choice(forms)

    def order_phone(self, s):
        """The phone as the shop's checkout stored it (with the address's country)."""
        p = s.phone
        if s.country == "US":
            return "(%s) %s-%s" % (p[2:5], p[5:8], p[8:])
        if s.country == "GB":
            return self.rng.choice(["0%s %s" % (p[3:7], p[7:]), p])
        return self.rng.choice(["0%s %s" % (p[3:6], p[6:]), p])

    # -- beacons ---------------------------------------------------------------------
    def beacon(self, t, s, dev, ip, site, fields, role, conv=None, loss=0.02, url=None):
        if dev.blocked:
            return None
        origin = SITES[site]["origin"]
        body = {"vid": dev.vid, "ttclid": dev.ttclid, "ttp": dev.ttp,
                "url": url or origin + "/", "referrer": ""}
        body.update(fields)
        body = {k: v for k, v in body.items() if v not in ("", None)}
        b = Beacon(t, s, dev, ip, origin, body, self.chance(loss), role, conv)
        self.beacons.append(b)
        dev.users.add(s.idx)
        if conv is not None:
            conv.beacons.append(b)
        return b

    def landing(self, t, s, dev, ip, site, ad):
        origin = SITES[site]["origin"]
        url = origin + "/products/item-%d" % self.rng.randrange(1, 40)
        if ad and s.ttclid:
            url += "?utm_source=tiktok&utm_medium=paid&ttclid=" + s.ttclid
            dev.ttclid = s.ttclid
            s.tags.add("ttclid")
        if not dev.blocked:
            self.beacon(t, s, dev, ip, site,
                        {"event": "ViewContent", "event_id": self.rand_event_id(),
                         "value": money(self.u(10, 120)), "currency": s.currency,
                         "referrer": "https://www.tiktok.com/" if ad else ""},
                        "view", url=url)
        return url

    def noise(self, t, s, dev, ip, site, checkout=True):
        """View and add-to-cart noise after the landing; returns the time after it."""
        if self.chance(0.5):
            t += self.u(0.3, 1.0)
            self.beacon(t, s, dev, ip, site, {"event": "ViewContent", "event_id": self.rand_event_id(),
                                              "value": money(self.u(10, 120)), "currency": s.currency},
                        "view")
        t += self.u(0.3, 1.0)
        self.beacon(t, s, dev, ip, site, {"event": "AddToCart", "event_id": self.rand_event_id(),
                                          "value": money(self.u(10, 120)), "currency": s.currency},
                    "atc")
        if checkout:
            t += self.u(0.3, 0.8)
            self.beacon(t, s, dev, ip, site, {"event": "InitiateCheckout",
                                              "event_id": self.rand_event_id(),
                                              "currency": s.currency}, "checkout")
        return t

    def identify(self, t, s, dev, ip, site, email=True, phone=False):
        """Typed email and/or phone on a form ttr.js sees: one beacon per field, as its
        change listener sends them."""
        if dev.blocked:
            return
        if email:
            if self.chance(0.05):
                text = "%s.%s.personal@%s" % (s.first, s.last, "example.net")
                s.tags.add("typed_other_email")
            else:
                text = self.typed_email(s)
            b = self.beacon(t, s, dev, ip, site, {"email": text}, "identify")
            b.email_norm = text.strip().lower()
            t += self.u(0.3, 0.8)
        if phone:
            text, intl, tag = self.typed_phone(s)
            b = self.beacon(t, s, dev, ip, site, {"phone": text}, "identify")
            region = dev.lang[3:5] if len(dev.lang) >= 5 and dev.lang[2] == "-" else ""
            # A national number needs the country, which ttrelayd takes from the
            # browser's Accept-Language region.
            if intl or region == s.country:
                b.phone_usable = s.phone
            b.phone_tag = tag if (intl or region == s.country) else tag + "_no_region"

    # -- behaviours --------------------------------------------------------------------
    def browse_only(self, s, t):
        s.tags.add("browse_only")
        dev = s.devices[0]
        ip = self.session_ip(dev)
        site = s.site if s.site != "cal" else self.rng.choice(WEB_SHOPS)
        self.landing(t, s, dev, ip, site, ad=self.chance(0.5))
        t = self.noise(t, s, dev, ip, site, checkout=self.chance(0.3))
        if self.chance(0.2):
            self.identify(t + 0.5, s, dev, ip, site, email=True, phone=self.chance(0.2))

    def buyer(self, s, t):
        site = s.site
        buy_dev = s.devices[0]
        cross = len(s.devices) > 1 and self.chance(0.35)
        ad = bool(s.ttclid)
        if cross:
            # Browse, click the ad and type the email on one device; buy on the other.
            s.tags.add("cross_device")
            other = [d for d in s.devices if d is not buy_dev][0]
            ip = self.session_ip(other)
            self.landing(t, s, other, ip, site, ad=ad)
            t2 = self.noise(t, s, other, ip, site, checkout=False)
            if self.chance(0.7):
                self.identify(t2 + 0.4, s, other, ip, site, email=True, phone=self.chance(0.2))
            t = t2 + self.u(5, 10)
            ad = False
        conv = self.purchase(s, buy_dev, t, site, ad=ad, upsell=site != "pay" and self.chance(0.13))
        if self.chance(0.15):
            s.tags.add("repeat")
            dev = buy_dev if (len(s.devices) == 1 or self.chance(0.8)) else s.devices[1]
            t_next = max(c.t0 for c in s.convs) + self.u(15, 35)
            c2 = self.purchase(s, dev, t_next, site, ad=False, upsell=False)
            c2.tags.add("repeat_order")
        return conv

    def booking(self, s, t):
        dev = s.devices[0]
        ip = self.session_ip(dev)
        site = "cal"
        self.landing(t, s, dev, ip, site, ad=bool(s.ttclid))
        t += self.u(0.5, 1.5)
        if self.chance(0.2):
            self.identify(t, s, dev, ip, site, email=True, phone=self.chance(0.3))
        t0 = t + self.u(2, 4)
        c = self.new_conv(s, site, "call", t0, dev, ip)
        c.object_id = "https://api.calendly.com/scheduled_events/%s/invitees/%s" % (
            self.hexid(16).upper(), self.hexid(16).upper())
        c.refs.add(c.object_id)
        c.value, c.currency = None, None
        c.email = s.email
        c.email_norm = s.email.lower()
        c.phone_e164 = s.phone if self.chance(0.5) else None
        if not dev.blocked and self.chance(0.85):
            c.wh_vid = dev.vid
        cat = self.category(c)
        w, thanks = self.thanks_times(t0, cat)
        if not dev.blocked:
            eid = self.rand_event_id()
            c.pixel.append(("Schedule", eid))
            c.pixel_device = dev
            self.beacon(thanks, s, dev, ip, site, {"event": "Schedule", "event_id": eid},
                        "thanks", conv=c, loss=0.04, url=SITES[site]["origin"] + "/book")
        self.webhooks.append(Webhook(w, "cal", c, "invitee.created", {}))
        c.webhooks.append(self.webhooks[-1])
        s.call = c

    def new_conv(self, s, site, kind, t0, dev, ip):
        c = Conversion(len(self.convs), s, site, kind)
        c.t0 = t0
        c.buy_device = dev
        c.session_ip = ip
        c.tags.add("site=" + site)
        c.tags.add("device=" + dev.kind)
        if dev.blocked:
            c.tags.add("adblock")
        if dev.nat_ip and ip == dev.nat_ip:
            c.tags.add("carrier_nat")
        if s is not None:
            c.tags |= {t for t in s.tags if t in ("office", "household", "shared_device",
                                                  "cross_device", "typed_other_email")}
            s.convs.append(c)
        self.convs.append(c)
        return c

    def category(self, c):
        """When the thank-you beacon reaches ttrelay relative to the webhook."""
        site = c.site
        w = {"woo": [45, 45, 10], "woob": [45, 45, 10]}.get(site, [25, 63, 12])
        cat = self.rng.choices(["before_webhook", "during_hold", "after_hold"], w)[0]
        c.tags.add("beacon_" + cat)
        return cat

    def thanks_times(self, t0, cat):
        """(first webhook time, thank-you beacon time) for an order created at t0."""
        if cat == "before_webhook":
            thanks = t0 + self.u(0.5, 1.0)
            return thanks + self.u(1.0, 2.0), thanks
        w = t0 + self.u(0.2, 0.5)
        if cat == "during_hold":
            # ttrelayd starts the hold at the receipt's whole second, so it may end up to
            # 1 s early: a beacon "during the hold" keeps MARGIN_S from that earliest end.
            return w, w + self.u(0.4, self.hold - 1.0 - MARGIN_S)
        return w, w + self.hold + self.u(1.5, 3.0)

    def off_edge(self, t, w):
        """Moves a time out of the band around the hold's end (w + hold ± margin)."""
        lo, hi = w + self.hold - 1.0 - MARGIN_S, w + self.hold + MARGIN_S + 0.5
        if lo <= t <= hi:
            return hi + self.u(0.0, 1.0)
        return t

    def purchase(self, s, dev, t, site, ad, upsell):
        ip = self.session_ip(dev)
        landing = self.landing(t, s, dev, ip, site, ad=ad)
        t = self.noise(t, s, dev, ip, site)
        typed_here = False
        cfg = SITES[site]
        if cfg["type"] == "woocommerce":
            # The billing form is a theme page: ttr.js sees what is typed there.
            if self.chance(0.85):
                typed_here = True
                self.identify(t + 0.3, s, dev, ip, site, email=True, phone=self.chance(0.35))
        elif self.chance(0.2):
            typed_here = True   # a newsletter pop-up
            self.identify(t + 0.3, s, dev, ip, site, email=True, phone=self.chance(0.15))
        t0 = t + self.u(1.5, 3.0)
        c = self.order(s, dev, ip, site, t0, landing if ad else "", main=True)
        if upsell:
            c.tags.add("upsell_pair")
            u0 = t0 + self.u(1.5, 3.0)   # accepted on the post-purchase page
            c2 = self.order(s, dev, ip, site, u0, landing if ad else "", main=False,
                            upsell_of=c)
            c2.tags.add("upsell_pair")
            c2.tags.add("upsell_second")
        return c

    def order(self, s, dev, ip, site, t0, landing, main=True, upsell_of=None):
        cfg = SITES[site]
        c = self.new_conv(s, site, "order", t0, dev, ip)
        c.currency = s.currency
        if upsell_of is not None:
            sub = round(self.u(9, 35), 2)
            ship = 0.0
        else:
            sub = round(self.u(40, 250), 2)
            ship = self.rng.choice([0.0, 0.0, 4.9, 5.99])
        c.subtotal, c.shipping = sub, ship
        c.value = money(sub + ship)
        c.email = self.rng.choice([s.email, s.email[0].upper() + s.email[1:] + " "])
        c.email_norm = s.email.lower()
        c.phone_e164 = s.phone
        c.wh_phone = self.order_phone(s)
        c.landing_ttclid = s.ttclid if (landing and "ttclid=" in landing) else ""
        c.landing = landing
        if cfg["type"] == "shopify":
            self.counters[site] += 1
            self.shopify_id += self.rng.randrange(1000, 90000) * 1000
            c.object_id = str(self.shopify_id)
            c.number = self.counters[site]
            c.checkout_token = self.hexid(32)
            c.cart_token = "Z2NwLXVzLWVhc3QxOj" + self.hexid(16).upper()
            c.token = self.hexid(32)
            c.refs |= {c.object_id, "#%d" % c.number, str(c.number), c.checkout_token,
                       c.cart_token, c.token}
            c.wh_ip, c.wh_ua = ip, dev.ua
        elif cfg["type"] == "woocommerce":
            self.counters[site] += 1
            c.object_id = str(self.counters[site])
            c.order_key = "wc_order_" + self.hexid(13)
            c.refs |= {c.object_id, c.order_key}
            c.wh_ip, c.wh_ua = ip, dev.ua
            if cfg["event_id_meta"]:
                c.wh_event_id = "evt-" + self.hexid(24)
        else:  # Stripe Checkout: a one-off payment, or a subscription's first payment
            c.session_id = "cs_live_a1" + self.hexid(48)
            c.intent = "pi_3" + self.hexid(23)
            if self.chance(0.3):
                c.tags.add("stripe_subscription")
                c.subscription = "sub_1" + self.hexid(23)
                c.invoice = "in_1" + self.hexid(23)
                c.customer = "cus_" + self.hexid(14)
                c.object_id = c.subscription    # README: keyed on the subscription id
                c.alt_ids = {c.intent, c.invoice, c.session_id}
            else:
                c.subscription = c.invoice = c.customer = None
                c.object_id = c.intent
                c.alt_ids = {c.session_id}
            c.refs |= {c.object_id, c.session_id}
        c.order_id = c.object_id
        if cfg["vid"] and not dev.blocked:
            c.wh_vid = dev.vid
        cat = self.category(c)
        if upsell_of is not None and cat == "after_hold":
            cat = "during_hold"
            c.tags.discard("beacon_after_hold")
            c.tags.add("beacon_during_hold")
        w, thanks = self.thanks_times(t0, cat)
        # The pixel's thank-you event.
        if not dev.blocked:
            if cfg["event_id_meta"]:
                eid = c.wh_event_id
            elif cfg["order_ids"]:
                ref = c.session_id if cfg["type"] == "stripe" else c.object_id
                eid = derived_event_id(site, ref)
            else:
                eid = self.rand_event_id()
            c.derived = eid == derived_event_id(site, c.object_id)
            name = cfg["thanks"]
            c.pixel.append((name, eid))
            c.pixel_device = dev
            pv = sub if cfg["pixel_value"] == "subtotal" else sub + ship
            fields = {"event": name, "event_id": eid, "value": money(pv), "currency": s.currency}
            if cfg["order_ids"]:
                fields["order_id"] = c.session_id if cfg["type"] == "stripe" else c.object_id
            if site == "shop":
                # The Customer Events snippet has the checkout's email (and phone as typed).
                fields["email"] = s.email
                c.tags.add("email_on_purchase_beacon")
            url = cfg["origin"] + ("/checkouts/thank-you" if cfg["type"] == "shopify" else
                                   "/checkout/order-received/%s/" % c.object_id
                                   if cfg["type"] == "woocommerce" else "/success")
            b = self.beacon(thanks, s, dev, ip, site, fields, "thanks", conv=c, loss=0.04, url=url)
            if "email" in fields:
                b.email_norm = s.email.lower()
            if self.chance(0.15):
                c.tags.add("refresh")
                tr = self.off_edge(thanks + self.u(2.0, 6.0), w)
                if cfg["order_ids"] or cfg["event_id_meta"]:
                    rf = dict(fields)           # the same id again
                else:
                    rid = self.rand_event_id()  # a fresh random id: the pixel counts it again
                    c.pixel.append((name, rid))
                    rf = dict(fields, event_id=rid)
                rb = self.beacon(tr, s, dev, ip, site, rf, "refresh", conv=c, loss=0.04, url=url)
                rb.email_norm = b.email_norm
        # The webhooks.
        typ = cfg["type"]
        if typ == "shopify":
            self.add_webhook(w, site, c, "orders/create")
            self.add_webhook(w + self.u(0.2, 0.8), site, c, "orders/paid")
            if self.chance(0.05):
                c.tags.add("sender_retry")
                self.add_webhook(w + self.u(1.0, 1.6), site, c, "orders/paid", retry=True)
        elif typ == "woocommerce":
            self.add_webhook(w, site, c, "order.created")
            if self.chance(0.3):
                self.add_webhook(w + self.u(0.5, 1.5), site, c, "order.updated")
        else:
            # Stripe sends the session and the payment intent (and, for a subscription, its
            # first invoice) with no order guaranteed. The endpoint's API version is basil
            # (as the fixtures): a payment intent no longer names its invoice.
            topics = ["checkout.session.completed", "payment_intent.succeeded"]
            if c.subscription:
                topics.append("invoice.paid")
            self.rng.shuffle(topics)
            if topics[0] != "checkout.session.completed":
                c.tags.add("stripe_session_not_first")
            elif c.pixel:
                # The server derives a Checkout order's id from its session id when the
                # conversion comes from checkout.session.completed (README, Matching).
                c.derived = c.pixel[0][1] == derived_event_id(site, c.session_id)
            t = w
            for topic in topics:
                self.add_webhook(t, site, c, topic)
                t += self.u(0.2, 0.6)
        return c

    def add_webhook(self, t, source, conv, topic, retry=False):
        wh = Webhook(t, source, conv, topic, {"retry": retry})
        self.webhooks.append(wh)
        conv.webhooks.append(wh)

    def renewals(self, send=False):
        """Stripe subscription renewals: no browser at all. Some subscribers are shoppers of
        this run (same email), so their renewal meets their touches. Stripe sends the
        cycle's invoice.paid (billing_reason subscription_cycle) and its payment intent
        (basil: without the invoice's id). send: whether the daemon is configured to send
        renewals (sources.[].renewals); it ignores them by default."""
        n = max(3, int(round(self.n * 0.06)))
        buyers = [s for s in self.shoppers if s.convs and s.site != "pay"]
        for i in range(n):
            s = self.rng.choice(buyers) if buyers and self.chance(0.3) else None
            c = Conversion(len(self.convs), s, "pay", "order")
            c.tags |= {"renewal", "site=pay"}
            if s is not None:
                c.tags.add("renewal_of_shopper")
                email = s.email
                c.currency = s.currency
            else:
                email = "subscriber%d@%s" % (i, self.rng.choice(DOMAINS))
                c.currency = "USD"
            c.t0 = self.u(5, self.spread + 20)
            c.invoice = "in_1" + self.hexid(23)
            c.intent = "pi_3" + self.hexid(23)
            c.subscription = "sub_1" + self.hexid(23)
            c.object_id = c.order_id = c.invoice    # an invoice keys on itself
            c.alt_ids = {c.intent}
            c.refs.add(c.object_id)
            c.value = self.rng.choice(["9.00", "19.00", "29.00", "49.00"])
            c.subtotal, c.shipping = float(c.value), 0.0
            c.email, c.email_norm = email, email.lower()
            c.customer = "cus_" + self.hexid(14)
            c.expected_events = 1 if send else 0
            self.convs.append(c)
            topics = ["invoice.paid", "payment_intent.succeeded"]
            self.rng.shuffle(topics)
            self.add_webhook(c.t0, "pay", c, topics[0])
            self.add_webhook(c.t0 + self.u(0.2, 0.6), "pay", c, topics[1])
