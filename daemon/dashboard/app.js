// The ttrelay dashboard: a page over the admin API (the same endpoints ttrelayctl uses),
// signed in with a session cookie. Plain DOM, no framework; text goes in with textContent
// only, so nothing the store holds can become markup.
'use strict';

const STATES = ['held', 'ready', 'sent', 'retry', 'dead', 'ignored', 'dry_run'];
const KEYS = ['event_id', 'order_ref', 'vid', 'email', 'phone', 'ip_ua', 'none'];
const COVER = ['ttclid', 'ttp', 'email', 'phone', 'ip_ua'];
const COLORS = ['#0b5cad', '#1a7f37', '#8250df', '#bf3989', '#9a6700', '#0a7d8c', '#6e7781'];
const PASTE = {
  shopify: 'Shopify admin → Settings → Notifications → Webhooks: "Order payment" and "Order cancellation", JSON; the signing secret shown there is this source\'s secret.',
  woocommerce: 'WooCommerce → Settings → Advanced → Webhooks → Add webhook: topic "Order updated", API version v3, with this source\'s secret.',
  stripe: 'Stripe Dashboard → Developers → Webhooks → Add endpoint: checkout.session.completed; its signing secret (whsec_…) is this source\'s secret.',
  calendly: 'Calendly webhook subscription (API v2, invitee.created and invitee.canceled) with this source\'s signing key.',
  calcom: 'Cal.com → Settings → Developer → Webhooks: BOOKING_CREATED and BOOKING_CANCELLED, with this source\'s secret.',
  generic: 'Your CRM, Zapier or Make: POST JSON with "Authorization: Bearer <secret>" or an X-Ttrelay-Signature header.',
};

const state = { csrf: '', signedIn: false, charts: [] };

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

function when(s) {
  if (!s) return '—';
  return new Date(s * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function ago(s, now) {
  if (!s) return 'never';
  const d = Math.max(0, (now || Date.now() / 1000) - s);
  if (d < 90) return `${Math.round(d)} s ago`;
  if (d < 5400) return `${Math.round(d / 60)} min ago`;
  if (d < 129600) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} d ago`;
}

const pct = (x) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`);

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', headers: {}, credentials: 'same-origin' };
  if (init.method !== 'GET') init.headers['X-Ttrelay-Csrf'] = state.csrf;
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && !opts.allow401) throw new Unauthorized();
  if (!res.ok && !opts.allowError) throw new Error(data.error || `${path}: HTTP ${res.status}`);
  return { status: res.status, data };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  return { path, params: Object.fromEntries(new URLSearchParams(qs || '')) };
}

function go(path, params) {
  location.hash = `#${path}${query(params || {})}`;
}

/* ---- sign-in ---- */

function showSignIn(message) {
  state.signedIn = false;
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#health').hidden = true;
  $('#main').replaceChildren();
  $('#signin').hidden = false;
  $('#signin-error').textContent = message || '';
  $('#token').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const token = $('#token').value;
  const { status, data } = await api('/dashboard/login', { method: 'POST', body: { token },
                                                           allow401: true, allowError: true });
  if (status !== 200) {
    $('#signin-error').textContent = data.error === 'wrong token' ? 'Wrong token.' : (data.error || 'Sign-in failed.');
    return;
  }
  $('#token').value = '';
  state.csrf = data.csrf;
  signedIn();
}

function signedIn() {
  state.signedIn = true;
  $('#signin').hidden = true;
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  render();
}

async function signOut() {
  await api('/dashboard/logout', { method: 'POST', allowError: true, allow401: true });
  state.csrf = '';
  showSignIn('Signed out.');
}

/* ---- health strip ---- */

function card(title, big, cls, ...rest) {
  return h('div', { class: 'card' }, h('h3', {}, title), h('div', { class: `big ${cls || ''}` }, big), ...rest);
}

async function renderHealth() {
  const { data: hl } = await api('/admin/health');
  const el = $('#health');
  const oldest = hl.oldest_queued_age_s;
  const cards = [];
  for (const p of hl.pixels) {
    const state = !p.paused ? 'active' : p.kind === 'operator' ? 'paused by an operator' : 'paused';
    cards.push(card(`Pixel ${p.pixel}`, state, !p.paused ? 'ok' : p.kind === 'operator' ? 'warn' : 'bad',
      h('div', { class: 'muted', 'data-pixel-reason': p.pixel }, p.paused ? p.reason : `last success ${ago(p.last_success, hl.now)}`)));
  }
  cards.push(card('Queue', String(hl.queue_depth), hl.queue_depth ? 'warn' : 'ok',
    h('div', { class: 'muted' }, STATES.map((s) => h('span', { 'data-count': s }, `${s} ${hl.counts[s]} `)))));
  cards.push(card('Oldest queued', oldest ? `${Math.round(oldest)} s` : 'none',
    oldest > hl.merge_window_s ? 'bad' : 'ok',
    h('div', { class: 'muted' }, `TikTok merges within ${hl.merge_window_s / 60} min`)));
  cards.push(card('Store', hl.store.writable ? 'writable' : 'failing', hl.store.writable ? 'ok' : 'bad',
    h('div', { class: 'muted' }, `ttrelayd ${hl.version}${hl.dry_run ? ' · dry run' : ''}`)));
  cards.push(card('Last reload', hl.reload ? (hl.reload.refused ? 'refused' : 'applied') : 'none since start',
    hl.reload && hl.reload.refused ? 'bad' : '',
    h('div', { class: 'muted' }, hl.reload ? `${ago(hl.reload.at, hl.now)} ${hl.reload.reason || ''}` : '')));
  for (const s of hl.sources) {
    cards.push(card(`Source ${s.id}`, s.silent ? 'silent' : 'receiving', s.silent ? 'warn' : 'ok',
      h('div', { class: 'muted', 'data-source-last': s.id }, `${s.type} · last webhook ${ago(s.last_accepted, hl.now)}`)));
  }
  el.replaceChildren(h('div', { class: 'cards', id: 'health-cards' }, cards));
  el.hidden = false;
  return hl;
}

/* ---- events ---- */

function eventTable(events, opts = {}) {
  const rows = events.map((e) => h('tr', { class: 'link', 'data-event': e.id, onclick: () => go(`/event/${e.id}`) },
    opts.select ? h('td', {}, h('input', { type: 'checkbox', 'data-select': e.id, onclick: (ev) => ev.stopPropagation() })) : null,
    h('td', { class: 'num' }, h('a', { href: `#/event/${e.id}` }, e.id)),
    h('td', {}, when(e.received_at)),
    h('td', {}, e.source), h('td', {}, e.kind),
    h('td', {}, e.order_id || e.object_id),
    h('td', {}, h('span', { class: `pill ${e.state}` }, e.state), e.test ? ' test' : ''),
    h('td', {}, e.matched_by || '—'),
    h('td', {}, h('code', {}, e.event_id || '—')),
    h('td', { class: 'num' }, e.attempts),
    h('td', { class: 'wrap muted' }, e.last_error || '')));
  return h('div', { class: 'scroll' }, h('table', { id: opts.id || 'events-table' },
    h('thead', {}, h('tr', {}, opts.select ? h('th', {}, '') : null,
      ['id', 'received', 'source', 'kind', 'order / object', 'state', 'matched by', 'event_id', 'attempts', 'last error']
        .map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
}

async function filterForm(params, onSubmit, opts = {}) {
  const { data: src } = await api('/admin/sources');
  const sel = (name, values, label) => h('label', {}, label,
    h('select', { name }, h('option', { value: '' }, 'any'),
      values.map((v) => h('option', { value: v, selected: params[name] === v }, v))));
  const dateVal = (s) => (s ? new Date(s * 1000).toISOString().slice(0, 10) : '');
  const form = h('form', { class: 'filters', id: 'filters' },
    opts.noState ? null : sel('state', STATES, 'state'),
    sel('source', src.sources.map((s) => s.id), 'source'),
    sel('pixel', src.pixels.map((p) => p.pixel), 'pixel'),
    sel('kind', ['order', 'call', 'lead'], 'kind'),
    h('label', {}, 'from', h('input', { type: 'date', name: 'since', value: dateVal(params.since) })),
    h('label', {}, 'to', h('input', { type: 'date', name: 'until', value: dateVal(params.until ? params.until - 86400 : '') })),
    h('label', {}, 'search', h('input', { type: 'search', name: 'q', id: 'search', value: params.q || '',
      placeholder: 'order id, delivery id, event_id' })),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const out = {};
    for (const [k, v] of f.entries()) if (v) out[k] = v;
    if (out.since) out.since = Date.parse(`${out.since}T00:00:00Z`) / 1000;
    if (out.until) out.until = Date.parse(`${out.until}T00:00:00Z`) / 1000 + 86400;
    onSubmit(out);
  });
  return form;
}

async function renderEvents(params) {
  const main = $('#main');
  const offset = Number(params.offset || 0);
  const form = await filterForm(params, (p) => go('/events', p));
  const { data } = await api(`/admin/find${query({ ...params, offset, limit: 50 })}`);
  const pager = h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: offset === 0, onclick: () => go('/events', { ...params, offset: Math.max(0, offset - 50) }) }, '← newer'),
    h('span', { id: 'events-total' }, `${data.total ? offset + 1 : 0}–${offset + data.events.length} of ${data.total}`),
    h('button', { type: 'button', disabled: offset + 50 >= data.total, onclick: () => go('/events', { ...params, offset: offset + 50 }) }, 'older →'));
  main.replaceChildren(h('h1', {}, 'Deliveries and events'), form, pager, eventTable(data.events));
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === '' || v === undefined || v === null ? '—' : v)]));
}

function matchSection(m, ev) {
  if (!m) return h('p', { class: 'muted' }, ev.state === 'held' ? 'Not matched yet: the hold has not ended.' : 'No match recorded for this event.');
  const words = { matched: 'Matched a browser event', explicit: 'The webhook carried the browser\'s event_id',
                  refused: 'Refused: candidates could not be told apart or were not this order\'s', no_candidates: 'No browser event was found' };
  return h('div', { id: 'match' },
    h('p', {}, h('strong', { id: 'match-decision' }, words[m.decision] || m.decision),
      m.matched_by ? ` (by ${m.matched_by})` : '', m.refusal ? h('span', { class: 'bad' }, ` — ${m.refusal}`) : ''),
    m.candidates && m.candidates.length ? h('div', { class: 'scroll' }, h('table', { id: 'candidates' },
      h('thead', {}, h('tr', {}, ['touch', 'event', 'key', 'gap', 'value', 'outcome', 'why'].map((t) => h('th', {}, t)))),
      h('tbody', {}, m.candidates.map((c) => h('tr', {},
        h('td', {}, c.touch_id), h('td', {}, c.event, h('br'), h('code', {}, c.event_id)), h('td', {}, c.key),
        h('td', { class: 'num' }, `${c.gap_s} s`), h('td', {}, c.value), h('td', {}, c.outcome),
        h('td', { class: 'wrap' }, c.why)))))) : h('p', { class: 'muted' }, 'No candidates were considered.'));
}

async function renderEvent(id) {
  const main = $('#main');
  const { data: ev } = await api(`/admin/events/${encodeURIComponent(id)}`);
  const { data: at } = await api(`/admin/attempts?id=${encodeURIComponent(id)}`);
  const replayable = ev.state === 'dead' || ev.state === 'retry';
  const status = h('p', { id: 'replay-status', role: 'status' });
  const replay = replayable ? h('button', { type: 'button', class: 'danger', id: 'replay', onclick: async () => {
    const { status: code, data } = await api(`/admin/events/${ev.id}/replay`, { method: 'POST', allowError: true });
    status.textContent = code === 200 ? 'Replayed: queued with its original event_id and event_time.' : `Refused: ${data.error}`;
    status.className = code === 200 ? 'ok' : 'bad';
  } }, 'Replay') : null;
  const attempts = at.attempts.length ? h('div', { class: 'scroll' }, h('table', { id: 'attempts' },
    h('thead', {}, h('tr', {}, ['when', 'outcome', 'HTTP', 'TikTok code', 'message', 'request id', 'latency', 'batch'].map((t) => h('th', {}, t)))),
    h('tbody', {}, at.attempts.map((a) => h('tr', {},
      h('td', {}, when(a.at)), h('td', {}, h('span', { class: `pill ${a.outcome === 'sent' ? 'sent' : a.outcome === 'retry' ? 'retry' : 'dead'}` }, a.outcome)),
      h('td', { class: 'num' }, a.http_status || 'no answer'), h('td', { class: 'num' }, a.code === null ? '—' : a.code),
      h('td', { class: 'wrap' }, a.message), h('td', {}, h('code', {}, a.request_id || '—')),
      h('td', { class: 'num' }, `${a.latency_ms} ms`), h('td', { class: 'num' }, a.batch))))))
    : h('p', { class: 'muted' }, 'No attempt yet.');
  main.replaceChildren(
    h('h1', {}, `Event ${ev.id} `, h('span', { class: `pill ${ev.state}`, id: 'event-state' }, ev.state)),
    h('div', { class: 'grid2' },
      h('div', { class: 'card' }, h('h3', {}, 'Event'), kv([
        ['source', ev.source], ['kind', ev.kind], ['object id', ev.object_id], ['pixel', ev.pixel],
        ['event', ev.event_name], ['event_id', h('code', { id: 'event-id' }, ev.event_id || '—')],
        ['event time', when(ev.event_time)], ['received', when(ev.received_at)], ['sent', when(ev.sent_at)],
        ['attempts', ev.attempts], ['request id', ev.request_id], ['last error', ev.last_error], ['test', ev.test ? 'yes' : 'no']]),
        replay, status),
      h('div', { class: 'card' }, h('h3', {}, 'Conversion (hashes only)'),
        h('pre', { id: 'conversion' }, JSON.stringify(ev.conversion, null, 2)))),
    h('h2', {}, 'The match and why'), matchSection(ev.match, ev),
    h('h2', {}, 'Attempts'), attempts,
    h('h2', {}, 'Payload sent to TikTok'),
    ev.payload ? h('pre', { id: 'payload' }, JSON.stringify(ev.payload, null, 2)) : h('p', { class: 'muted' }, 'Not built yet.'));
}

/* ---- dead letters ---- */

async function renderDead(params) {
  const main = $('#main');
  const form = await filterForm(params, (p) => go('/dead', p), { noState: true });
  const filter = { ...params, state: 'dead' };
  const { data } = await api(`/admin/find${query({ ...filter, limit: 100 })}`);
  const replayable = data.dead.count - data.dead.too_old;
  const area = h('div', { id: 'bulk' });
  const bulk = h('button', { type: 'button', class: 'danger', id: 'replay-all', disabled: replayable === 0,
    onclick: () => area.replaceChildren(h('div', { class: 'confirm', id: 'confirm' },
      h('p', {}, `Replay ${replayable} dead event${replayable === 1 ? '' : 's'} matching this filter? `,
        data.dead.too_old ? `${data.dead.too_old} older than TikTok's age limit stay dead.` : ''),
      h('button', { type: 'button', class: 'danger', id: 'confirm-replay', onclick: () => bulkReplay(filter, replayable, area) }, `Replay ${replayable}`), ' ',
      h('button', { type: 'button', onclick: () => area.replaceChildren() }, 'Cancel'))) },
    `Replay all matching (${replayable})`);
  main.replaceChildren(h('h1', {}, 'Dead letters'), form,
    h('p', { id: 'dead-count' }, `${data.dead.count} dead`, data.dead.too_old ? `, ${data.dead.too_old} past TikTok's age limit (cannot be replayed)` : '', '. '),
    bulk, area, eventTable(data.events, { id: 'dead-table' }));
}

/* Replays one by one through the same endpoint as a single replay, so each refusal comes
 * with its reason and progress is exact. */
async function bulkReplay(filter, expected, area) {
  const bar = h('progress', { max: expected, value: 0, id: 'replay-progress' });
  const text = h('p', { id: 'replay-result', role: 'status' }, `0 of ${expected}`);
  area.replaceChildren(bar, text);
  let done = 0, refused = 0;
  const reasons = [];
  for (let page = 0; page < 100; page++) {
    const { data } = await api(`/admin/find${query({ ...filter, limit: 200 })}`);
    const batch = data.events.filter((e) => e.replayable);
    if (!batch.length) break;
    for (const e of batch) {
      const { status, data: r } = await api(`/admin/events/${e.id}/replay`, { method: 'POST', allowError: true });
      if (status === 200) done++;
      else { refused++; reasons.push(`${e.id}: ${r.error}`); }
      bar.value = done + refused;
      text.textContent = `${done} replayed, ${refused} refused of ${expected}`;
    }
    if (refused) break;
  }
  text.textContent = `${done} replayed, ${refused} refused${reasons.length ? ` (${reasons.join('; ')})` : ''}.`;
}

/* ---- match quality ---- */

function chart(el, title, t, series, opts = {}) {
  const width = Math.max(280, el.clientWidth - 16);
  const box = h('div', { class: 'chart', 'data-chart': title }, h('h3', {}, title));
  el.append(box);
  const u = new uPlot({
    width: Math.max(260, box.clientWidth - 16), height: 200,
    scales: { x: { time: true }, y: opts.share ? { range: [0, 1] } : { auto: true } },
    axes: [{}, { values: (u, v) => v.map((x) => (opts.share ? `${Math.round(x * 100)}%` : `${x}`)), size: 50 }],
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
      spanGaps: true, points: { show: true, size: 4 } }))],
    legend: { show: true },
  }, [t, ...series.map((s) => s.data)], box);
  state.charts.push(u);
  return width;
}

async function renderQuality(params) {
  const main = $('#main');
  const bucket = params.bucket === 'hour' ? 'hour' : 'day';
  const { data: src } = await api('/admin/sources');
  const { data: ts } = await api(`/admin/timeseries${query({ bucket, source: params.source })}`);
  const sel = h('select', { id: 'quality-source', onchange: (ev) => go('/quality', { bucket, source: ev.target.value }) },
    h('option', { value: '' }, 'all sources'), src.sources.map((s) => h('option', { value: s.id, selected: params.source === s.id }, s.id)));
  const unit = h('select', { id: 'quality-bucket', onchange: (ev) => go('/quality', { bucket: ev.target.value, source: params.source }) },
    ['day', 'hour'].map((b) => h('option', { value: b, selected: b === bucket }, `per ${b}`)));
  const charts = h('div', { class: 'charts', id: 'charts' });
  const sum = (arr) => arr.reduce((a, b) => a + b, 0);
  const total = sum(ts.conversions);
  const weighted = (arr) => (total ? sum(arr.map((x, i) => (x || 0) * ts.conversions[i])) / total : null);
  const table = h('div', { class: 'scroll' }, h('table', { id: 'quality-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'over the period'), h('th', { class: 'num' }, 'share'))),
    h('tbody', {},
      h('tr', {}, h('td', {}, 'conversions'), h('td', { class: 'num', 'data-q': 'conversions' }, total)),
      h('tr', {}, h('td', {}, 'with the browser\'s event_id'), h('td', { class: 'num', 'data-q': 'browser' }, pct(weighted(ts.browser_event_id)))),
      KEYS.map((k) => h('tr', {}, h('td', {}, `matched by ${k}`), h('td', { class: 'num', 'data-q': `matched_${k}` }, pct(weighted(ts.matched_by[k]))))),
      COVER.map((k) => h('tr', {}, h('td', {}, `with ${k}`), h('td', { class: 'num', 'data-q': `with_${k}` }, pct(weighted(ts.with[k]))))))));
  main.replaceChildren(h('h1', {}, 'Match quality'), h('form', { class: 'filters' }, h('label', {}, 'source', sel), h('label', {}, 'bucket', unit)),
    charts, h('h2', {}, 'Totals'), table);
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
  chart(charts, 'Conversions', ts.t, [{ label: 'conversions', data: ts.conversions }]);
  chart(charts, 'Matched by key', ts.t, KEYS.map((k) => ({ label: k, data: ts.matched_by[k] })), { share: true });
  chart(charts, 'Server & browser (event_id shared)', ts.t, [{ label: 'with browser event_id', data: ts.browser_event_id }], { share: true });
  chart(charts, 'Coverage', ts.t, COVER.map((k) => ({ label: k, data: ts.with[k] })), { share: true });
  chart(charts, 'Delivery delay (s)', ts.t, [{ label: 'p50', data: ts.delay_p50_s }, { label: 'p95', data: ts.delay_p95_s }]);
}

/* ---- reconciliation ---- */

async function renderReconcile() {
  const { data } = await api('/admin/reconciliation?days=14');
  const rows = data.rows.sort((a, b) => (a.day < b.day ? 1 : a.day > b.day ? -1 : a.source.localeCompare(b.source)));
  const cols = ['received', 'sent', 'accepted', 'dry_run', 'ignored', 'dead', 'pending'];
  const totals = Object.fromEntries(cols.map((c) => [c, rows.reduce((a, r) => a + r[c], 0)]));
  $('#main').replaceChildren(h('h1', {}, 'Reconciliation'),
    h('p', { class: 'muted' }, 'Per day (UTC) and source: compare "received" with your order count. Test events are left out.'),
    h('div', { class: 'scroll' }, h('table', { id: 'recon-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'day'), h('th', {}, 'source'), cols.map((c) => h('th', { class: 'num' }, c.replace('_', ' '))), h('th', {}, 'ignored because'))),
      h('tbody', {}, rows.map((r) => h('tr', { 'data-recon': `${r.day}|${r.source}` }, h('td', {}, r.day), h('td', {}, r.source),
        cols.map((c) => h('td', { class: 'num', 'data-col': c }, r[c])),
        h('td', { class: 'wrap muted' }, Object.entries(r.ignored_reasons).map(([k, v]) => `${k}: ${v}`).join('; '))))),
      h('tfoot', {}, h('tr', { id: 'recon-total' }, h('th', {}, 'total'), h('th', {}, ''), cols.map((c) => h('th', { class: 'num', 'data-col': c }, totals[c])), h('th', {}, ''))))));
}

/* ---- sources ---- */

function deliveryTable(source, rows) {
  if (!rows.length) return h('p', { class: 'muted' }, 'No webhook delivery yet.');
  return h('div', { class: 'scroll' }, h('table', { id: `deliveries-${source}` },
    h('thead', {}, h('tr', {}, ['when', 'HTTP', 'result', 'reason', 'delivery id', 'event'].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows.map((d) => h('tr', { 'data-delivery-status': d.status },
      h('td', {}, when(Math.floor(d.time_ms / 1000))), h('td', { class: `num ${d.status >= 400 ? 'bad' : ''}` }, d.status),
      h('td', {}, d.result), h('td', { class: 'wrap' }, d.reason || ''), h('td', {}, h('code', {}, d.delivery_id || '—')),
      h('td', {}, d.conversion_id ? h('a', { href: `#/event/${d.conversion_id}` }, d.conversion_id) : '—'))))));
}

async function renderSources() {
  const { data } = await api('/admin/sources');
  const deliveries = {};
  for (const s of data.sources)
    deliveries[s.id] = (await api(`/admin/deliveries${query({ source: s.id, limit: 10 })}`)).data.deliveries;
  const testResult = h('p', { id: 'test-result', role: 'status' });
  $('#main').replaceChildren(h('h1', {}, 'Sources'),
    h('p', { class: 'muted' }, 'Webhook URLs are on the public listener, behind your TLS proxy: replace the host with your public one.'),
    h('div', { class: 'grid2' }, data.sources.map((s) => h('div', { class: 'card', 'data-source': s.id },
      h('h2', {}, `${s.id} `, h('span', { class: 'pill' }, s.type)),
      kv([['webhook URL', h('code', {}, `https://your-relay.example${s.webhook_path}`)], ['where to paste it', PASTE[s.type] || ''],
          ['kind', s.kind], ['pixel', s.pixel], ['last accepted', `${when(s.last_accepted)} (${ago(s.last_accepted)})`]]),
      h('h3', {}, 'Latest webhook deliveries'), deliveryTable(s.id, deliveries[s.id]),
      h('h3', {}, 'Latest events'), s.recent.length ? eventTable(s.recent, { id: `recent-${s.id}` }) : h('p', { class: 'muted' }, 'None yet.')))),
    h('h2', {}, 'Test events'),
    h('div', {}, data.pixels.map((p) => h('p', {}, h('button', { type: 'button', 'data-test-pixel': p.pixel, disabled: !p.test_event_code,
      onclick: async () => {
        const { status, data: r } = await api('/admin/test-event', { method: 'POST', body: { pixel: p.pixel }, allowError: true });
        testResult.textContent = status === 200 ? `Test event queued (id ${r.id}, event_id ${r.event_id}, test_event_code ${r.test_event_code}).` : `Refused: ${r.error}`;
      } }, `Send a test event to ${p.pixel}`), p.test_event_code ? '' : h('span', { class: 'muted' }, ' (set test_event_code for this pixel first)')))),
    testResult);
}

/* ---- overview and routing ---- */

async function renderOverview() {
  const { data } = await api('/admin/find?limit=10');
  $('#main').replaceChildren(h('h1', {}, 'Latest events'), eventTable(data.events),
    h('p', {}, h('a', { href: '#/events' }, 'All events →'), ' · ', h('a', { href: '#/dead' }, 'Dead letters →')));
}

async function render() {
  if (!state.signedIn) return;
  const { path, params } = route();
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', a.getAttribute('href') === `#${path}`);
  try {
    await renderHealth();
    if (path === '/events') await renderEvents(params);
    else if (path.startsWith('/event/')) await renderEvent(path.slice(7));
    else if (path === '/dead') await renderDead(params);
    else if (path === '/quality') await renderQuality(params);
    else if (path === '/reconcile') await renderReconcile();
    else if (path === '/sources') await renderSources();
    else await renderOverview();
    document.body.dataset.page = path;
    document.body.dataset.ready = String(Date.now());
  } catch (e) {
    if (e instanceof Unauthorized) showSignIn('Your session ended: sign in again.');
    else $('#main').replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

async function start() {
  $('#signin-form').addEventListener('submit', signIn);
  $('#logout').addEventListener('click', signOut);
  window.addEventListener('hashchange', render);
  const { data } = await api('/dashboard/session');
  if (data.signed_in) {
    state.csrf = data.csrf;
    signedIn();
  } else {
    showSignIn('');
  }
}

start();
