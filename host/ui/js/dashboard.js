// The dashboard: how webhooks are doing over the last hour or day, drawn by the page from
// GET /stats — events per minute by status as stacked bars, latency and transform-time
// percentiles, the backlog, and what needs attention, with one click to the filtered event
// log and a bulk replay. Refreshed every 10 s while shown.

import { api } from './api.js';
import { h, fill, errorBox, field, select } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const REFRESH_MS = 10000;

/** How each status is drawn, in stacking order (bottom first), and what people call it. */
const LOOK = {
  enrolled: ['#1a7f37', 'enrolled'],
  already_enrolled: ['#4ac26b', 'already enrolled'],
  no_workflow: ['#8c959f', 'no workflow'],
  test_event: ['#0a58ca', 'test event'],
  not_ready: ['#9a6700', 'not ready'],
  duplicate: ['#bf8700', 'duplicate'],
  unmatched: ['#e16f24', 'unmatched'],
  failed: ['#b42318', 'failed'],
};
const look = (status) => LOOK[status] || ['#57606a', status];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A time of day, short. */
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** The stacked bar chart of `stats.series`: events per minute by status. */
function chart(stats) {
  const [W, H, left, bottom, top] = [960, 240, 44, 24, 8];
  const perMinute = stats.bucket_s / 60;
  const series = stats.series;
  const rate = (n) => n / perMinute;
  const peak = Math.max(1, ...series.map((b) => rate(Object.values(b.counts).reduce((a, n) => a + n, 0))));
  const step = niceStep(peak / 4);
  const max = Math.ceil(peak / step) * step;
  const plotH = H - bottom - top;
  const y = (v) => top + plotH - (v / max) * plotH;
  const slot = (W - left) / Math.max(1, series.length);
  const grid = [];
  for (let v = 0; v <= max + 1e-9; v += step) {
    grid.push(svg('line', { x1: left, x2: W, y1: y(v), y2: y(v), class: 'grid' }));
    grid.push(svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)));
  }
  const bars = series.map((b, i) => {
    let base = 0;
    const parts = stats.statuses.filter((s) => b.counts[s]).map((s) => {
      const v = rate(b.counts[s]);
      const rect = svg('rect', {
        x: left + i * slot + 0.5, width: Math.max(1, slot - 1), y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)),
        fill: look(s)[0], 'data-status': s,
      });
      base += v;
      return rect;
    });
    const said = stats.statuses.filter((s) => b.counts[s]).map((s) => `${look(s)[1]} ${b.counts[s]}`).join(', ') || 'no events';
    return svg('g', { class: 'bar' }, svg('title', {}, `${clock(b.at_ms)}: ${said}`), parts);
  });
  const first = series[0], last = series[series.length - 1];
  const labels = [first, series[Math.floor(series.length / 2)], last].filter(Boolean).map((b, i) =>
    svg('text', { x: left + series.indexOf(b) * slot + (i === 2 ? slot : 0), y: H - 6, 'text-anchor': ['start', 'middle', 'end'][i], class: 'axis' }, clock(b.at_ms)));
  const total = Object.values(stats.totals).reduce((a, n) => a + n, 0);
  const summary = `Events per minute by status, ${stats.window === '1h' ? 'last hour' : 'last day'}: ${total} events` +
    (stats.statuses.length ? ` (${stats.statuses.map((s) => `${look(s)[1]} ${stats.totals[s]}`).join(', ')})` : '');
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, id: 'events-chart' }, grid, bars, labels),
    h('figcaption', { class: 'legend' },
      h('span', { class: 'muted' }, `events per minute${stats.bucket_s > 60 ? ` (${stats.bucket_s / 60}-minute buckets)` : ''}:`),
      stats.statuses.map((s) => h('span', { class: 'key' }, h('span', { class: 'swatch', style: `background:${look(s)[0]}` }), ` ${look(s)[1]} `, h('strong', {}, String(stats.totals[s]))))));
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power * 10;
}

const fmt = (v) => (v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1));
const ms = (v) => (v == null ? '–' : v < 1 ? `${Math.round(v * 1000)} µs` : v < 1000 ? `${+v.toPrecision(3)} ms` : `${+(v / 1000).toPrecision(3)} s`);

function tile(label, value, detail, id) {
  return h('div', { class: 'tile', id }, h('div', { class: 'muted' }, label), h('div', { class: 'big' }, value), detail ? h('div', { class: 'muted' }, detail) : null);
}

/** The "needs attention" list: links to the filtered event log and a bulk replay per webhook. */
function attention(stats, refresh, message) {
  const { webhooks, workflows, destinations } = stats.attention;
  if (!webhooks.length && !workflows.length && !destinations.length) {
    return h('p', { class: 'ok', id: 'attention' }, 'Nothing needs attention in this window.');
  }
  const replay = async (w, status, count) => {
    try {
      const r = await api('POST', '/events/replay', { webhook: w.webhook.id, status });
      fill(message, h('p', { class: 'ok' }, `${r.replayed} ${status} ${r.replayed === 1 ? 'event' : 'events'} of ${w.webhook.name} queued for replay.`));
      refresh();
    } catch (error) {
      fill(message, errorBox(error));
    }
  };
  const events = (w, status) => `#/events?webhook=${encodeURIComponent(w.webhook.id)}&status=${status}`;
  const items = [];
  for (const w of webhooks) {
    for (const [status, count] of [['unmatched', w.unmatched], ['failed', w.failed]]) {
      if (!count) continue;
      items.push(h('li', {},
        h('strong', {}, w.webhook.name), ': ',
        h('a', { href: events(w, status) }, `${count} ${status}`), ' ',
        h('button', { class: 'link', onclick: () => replay(w, status, count) }, `Replay ${status} events of ${w.webhook.name}`)));
    }
    if (w.breakers_opened) {
      items.push(h('li', {}, h('strong', {}, w.webhook.name), `: a transform step's breaker opened ${w.breakers_opened}×`, ' ',
        h('a', { href: `#/webhooks/${encodeURIComponent(w.webhook.id)}/transforms` }, 'transforms')));
    }
  }
  for (const wf of workflows) {
    items.push(h('li', {}, h('strong', {}, wf.workflow.name), ': ',
      h('a', { href: `#/workflows/${encodeURIComponent(wf.workflow.id)}` }, `${wf.failed} ${wf.failed === 1 ? 'enrollment' : 'enrollments'} failed`)));
  }
  for (const d of destinations) {
    items.push(h('li', {}, h('code', {}, d.destination), `: breaker opened ${d.breakers_opened}×`));
  }
  return h('div', { id: 'attention' }, h('ul', { class: 'attention' }, items));
}

export async function page({ query, go, onLeave }) {
  const webhook = query.get('webhook') || '';
  const window = query.get('window') === '1d' ? '1d' : '1h';
  const { webhooks } = await api('GET', '/webhooks');
  const hookSelect = select([{ value: '', label: 'All webhooks' }, ...webhooks.map((w) => ({ value: w.id, label: w.name }))], webhook, { name: 'webhook' });
  const windowSelect = select([{ value: '1h', label: 'Last hour' }, { value: '1d', label: 'Last day' }], window, { name: 'window' });
  const at = () => {
    const p = new URLSearchParams();
    if (hookSelect.value) p.set('webhook', hookSelect.value);
    if (windowSelect.value !== '1h') p.set('window', windowSelect.value);
    return `#/dashboard${p.toString() ? `?${p}` : ''}`;
  };
  hookSelect.addEventListener('change', () => go(at()));
  windowSelect.addEventListener('change', () => go(at()));
  const body = h('div', { 'aria-live': 'polite' });
  // Outside what each refresh redraws, so a replay's outcome stays in view.
  const message = h('div', { role: 'status', id: 'replay-status' });
  const params = new URLSearchParams({ window });
  if (webhook) params.set('webhook', webhook);
  const draw = async () => {
    try {
      const stats = await api('GET', `/stats?${params}`);
      const total = Object.values(stats.totals).reduce((a, n) => a + n, 0);
      const bad = (stats.totals.unmatched || 0) + (stats.totals.failed || 0);
      fill(body,
        h('div', { class: 'tiles' },
          tile('Events', total.toLocaleString(), stats.window === '1h' ? 'in the last hour' : 'in the last day', 'tile-events'),
          tile('Unmatched or failed', String(bad), total ? `${Math.round((bad / total) * 100)}% of events` : null, 'tile-bad'),
          tile('Latency p50 / p99', `${ms(stats.latency_ms.p50)} / ${ms(stats.latency_ms.p99)}`, 'receipt to final status', 'tile-latency'),
          tile('Transforms p50 / p99', `${ms(stats.transform_ms.p50)} / ${ms(stats.transform_ms.p99)}`, 'coerce and plugin calls, per event', 'tile-transform'),
          tile('Backlog', stats.backlog.waiting.toLocaleString(), `of ${stats.backlog.bound.toLocaleString()} before 503s`, 'tile-backlog')),
        h('h2', {}, 'Events per minute'),
        chart(stats),
        h('h2', {}, 'Needs attention'),
        attention(stats, draw, message));
    } catch (error) {
      fill(body, errorBox(error));
    }
  };
  await draw();
  const timer = setInterval(draw, REFRESH_MS);
  onLeave(() => clearInterval(timer));
  return h('div', {},
    h('h1', {}, 'Dashboard'),
    h('div', { class: 'filters dashboard-filters' }, field('Webhook', hookSelect), field('Window', windowSelect)),
    body,
    message);
}
