// The event log: filter by webhook and status, one event's whole story, single and bulk
// replay.

import { api } from './api.js';
import { h, fill, badge, errorBox, field, select, jsonTree, when, ago } from './dom.js';
import { title } from './records.js';

const STATUSES = ['accepted', 'test_event', 'not_ready', 'enrolled', 'already_enrolled', 'no_workflow', 'unmatched', 'failed', 'duplicate'];

export async function list({ query, go }) {
  const webhook = query.get('webhook') || '';
  const status = query.get('status') || '';
  const params = new URLSearchParams({ limit: '100' });
  if (webhook) params.set('webhook', webhook);
  if (status) params.set('status', status);
  const [{ webhooks }, { events }] = await Promise.all([api('GET', '/webhooks'), api('GET', `/events?${params}`)]);
  const names = new Map(webhooks.map((w) => [w.id, w.name]));
  const hookSelect = select([{ value: '', label: 'All webhooks' }, ...webhooks.map((w) => ({ value: w.id, label: w.name }))], webhook, { name: 'webhook' });
  const statusSelect = select([{ value: '', label: 'Any status' }, ...STATUSES.map((s) => ({ value: s, label: s }))], status, { name: 'status' });
  const message = h('div', { 'aria-live': 'polite' });
  const filter = (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (hookSelect.value) q.set('webhook', hookSelect.value);
    if (statusSelect.value) q.set('status', statusSelect.value);
    go(`#/events${q.toString() ? `?${q}` : ''}`);
  };
  return h('div', {},
    h('h1', {}, 'Events'),
    h('form', { class: 'filters', onsubmit: filter },
      field('Webhook', hookSelect), field('Status', statusSelect),
      h('div', {}, h('button', { type: 'submit' }, 'Filter'))),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button',
        disabled: !webhook && !status,
        title: 'Choose a webhook or a status first',
        onclick: async () => {
          if (!confirm('Replay every event matching this filter through the current settings?')) return;
          try {
            const r = await api('POST', '/events/replay', { webhook: webhook || undefined, status: status || undefined });
            fill(message, h('p', { class: 'ok', role: 'status' }, `${r.replayed} ${r.replayed === 1 ? 'event' : 'events'} queued for replay.`));
          } catch (error) {
            fill(message, errorBox(error));
          }
        },
      }, 'Replay all matching')),
    message,
    events.length === 0 ? h('p', { class: 'muted' }, 'No events match.') :
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Received', 'Webhook', 'Status', 'Reason'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, events.map((e) => h('tr', {},
          h('td', {}, h('a', { href: `#/events/${e.id}` }, ago(e.received_at))),
          h('td', {}, names.get(e.webhook_id) || e.webhook_id),
          h('td', {}, badge(e.status)),
          h('td', {}, e.reason || '')))))));
}

export async function detail({ params: [id], go, onLeave }) {
  const e = await api('GET', `/events/${id}`);
  // Names, where people think in names (a deleted webhook keeps its id).
  const [hook, { workflows }] = await Promise.all([
    api('GET', `/webhooks/${e.webhook_id}`).catch(() => null),
    api('GET', '/workflows').catch(() => ({ workflows: [] })),
  ]);
  const hookName = hook ? hook.name : e.webhook_id;
  // The matched record by its name (or email), linked to its page.
  const object = hook && hook.match ? hook.match.object : null;
  const matched = e.matched_record_id && object
    ? await api('GET', `/objects/${encodeURIComponent(object)}/records/${encodeURIComponent(e.matched_record_id)}`).catch(() => null)
    : null;
  const flowNames = new Map(workflows.map((w) => [w.id, w.name]));
  const message = h('div', { 'aria-live': 'polite' });
  if (e.status === 'accepted') {
    // Waiting for the pipeline: show the outcome as soon as there is one.
    const timer = setInterval(async () => {
      try {
        const now = await api('GET', `/events/${id}`);
        if (now.status !== 'accepted') { clearInterval(timer); go(`#/events/${id}`); }
      } catch (error) {
        clearInterval(timer);
        fill(message, errorBox(error));
      }
    }, 500);
    onLeave(() => clearInterval(timer));
  }
  const section = (title, value) => (value === null || value === undefined ? null
    : h('section', {}, h('h2', {}, title), jsonTree(value)));
  return h('div', {},
    h('h1', {}, `Event ${e.id}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'event-status' }, badge(e.status)),
      h('dt', {}, 'Received'), h('dd', {}, ago(e.received_at)),
      h('dt', {}, 'Webhook'), h('dd', {}, h('a', { href: `#/webhooks/${e.webhook_id}` }, hookName)),
      h('dt', {}, 'Stage'), h('dd', {}, e.stage || ''),
      h('dt', {}, 'Reason'), h('dd', {}, e.reason || ''),
      h('dt', {}, 'Matched record'), h('dd', { id: 'matched-record' }, matched
        ? h('a', { href: `#/records/${encodeURIComponent(object)}/${encodeURIComponent(matched.id)}` }, title(matched), ' ', h('span', { class: 'muted' }, `(${matched.id})`))
        : e.matched_record_id || 'none')),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button',
        onclick: async () => {
          try {
            await api('POST', `/events/${id}/replay`);
            go(`#/events/${id}`);
          } catch (error) {
            fill(message, errorBox(error));
          }
        },
      }, 'Replay this event')),
    message,
    e.enrollments && e.enrollments.length ? h('section', {}, h('h2', {}, 'Enrollments'),
      h('ul', {}, e.enrollments.map((en) => h('li', {},
        en.enrollment_id ? h('a', { href: `#/enrollments/${en.enrollment_id}` }, `${flowNames.get(en.workflow_id) || en.workflow_id}: ${en.outcome}`)
          : `${flowNames.get(en.workflow_id) || en.workflow_id}: ${en.outcome}`)))) : null,
    section('Raw payload', e.payload),
    section('After coercion', e.coerced),
    section('Transform steps', e.transforms),
    section('Properties', e.properties),
    section('Matched record', e.matched_record),
    section('Stage trace', e.trace));
}
