// Alerts: where the server tells an admin of trouble — failed or unmatched events, failed
// enrollments, breakers, the backlog — at most once per kind and subject per window,
// signed with a secret's Standard Webhooks key. The list with each alert's latest
// messages, and a form to add one.

import { api } from './api.js';
import { h, fill, badge, errorBox, field, select, ago } from './dom.js';

/** The kinds of trouble, as the form offers them. */
const KINDS = [
  { kind: 'events_unmatched', label: 'Events matched no record', unit: 'events in the window', value: 10 },
  { kind: 'events_failed', label: 'Events failed', unit: 'events in the window', value: 1 },
  { kind: 'enrollments_failed', label: 'Workflow enrollments failed after their retries', unit: 'enrollments in the window', value: 1 },
  { kind: 'breaker_opened', label: 'A breaker opened (a transform timing out, a destination failing)', unit: 'times in the window', value: 1 },
  { kind: 'backlog', label: 'The backlog filled up', unit: '% of the backlog bound', value: 80 },
];

const WINDOWS = [
  { value: '300', label: '5 minutes' },
  { value: '900', label: '15 minutes' },
  { value: '3600', label: '1 hour' },
  { value: '86400', label: '1 day' },
];

/** `unmatched events ≥ 10, backlog ≥ 80%`. */
const SAID = {
  events_unmatched: 'unmatched events', events_failed: 'failed events',
  enrollments_failed: 'failed enrollments', breaker_opened: 'breakers opened',
};
function conditions(on) {
  return Object.entries(on).map(([kind, t]) => (kind === 'backlog' ? `backlog ≥ ${Math.round(t * 100)}%` : `${SAID[kind] || kind} ≥ ${t}`)).join(', ');
}

function messages(alert) {
  if (!alert.messages.length) return h('p', { class: 'muted' }, 'No message sent yet.');
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Fired', 'What', 'Status', 'Tries', 'Last error'].map((c) => h('th', {}, c)))),
    h('tbody', {}, alert.messages.map((m) => h('tr', {},
      h('td', {}, ago(m.fired_at)),
      h('td', {}, m.body && m.body.data ? h('a', { href: m.body.data.link.replace(/^.*#/, '#') }, m.body.data.message) : m.kind),
      h('td', {}, badge(m.status)),
      h('td', {}, String(m.attempts)),
      h('td', {}, m.last_error || ''))))));
}

export async function list({ go }) {
  const [{ alerts }, { secrets }, { webhooks }] = await Promise.all([api('GET', '/alerts'), api('GET', '/secrets'), api('GET', '/webhooks')]);
  const shown = await Promise.all(alerts.map((a) => api('GET', `/alerts/${encodeURIComponent(a.id)}`)));
  const message = h('div', { role: 'status' });

  const name = h('input', { type: 'text', name: 'name', placeholder: 'on-call' });
  const url = h('input', { type: 'url', name: 'url', placeholder: 'https://ops.example.com/wasmhook' });
  const secret = select([{ value: '', label: 'Choose a secret…' }, ...secrets.map((s) => ({ value: s.name, label: s.name }))], '', { name: 'secret' });
  const windowSelect = select(WINDOWS, '300', { name: 'window' });
  // A new key made in the browser (32 random bytes), stored as a secret and shown once.
  const keyName = h('input', { type: 'text', name: 'key-name', value: 'ALERTS_KEY' });
  const keyShown = h('div', { role: 'status' });
  const generate = async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const key = `whsec_${btoa(String.fromCharCode(...bytes))}`;
    try {
      await api('PUT', `/secrets/${encodeURIComponent(keyName.value.trim())}`, { value: key });
      if (![...secret.options].some((o) => o.value === keyName.value.trim())) secret.append(h('option', { value: keyName.value.trim() }, keyName.value.trim()));
      secret.value = keyName.value.trim();
      fill(keyShown, h('p', { class: 'notice' }, 'Give this key to your receiver now; it is not shown again: ', h('code', { id: 'new-key' }, key)));
    } catch (error) {
      fill(keyShown, errorBox(error));
    }
  };
  const hook = select([{ value: '', label: 'Every webhook' }, ...webhooks.map((w) => ({ value: w.id, label: w.name }))], '', { name: 'webhook' });
  const kinds = KINDS.map((k) => {
    const on = h('input', { type: 'checkbox', id: `on-${k.kind}`, checked: k.kind === 'events_unmatched' || k.kind === 'events_failed' });
    const threshold = h('input', { type: 'number', min: '1', max: k.kind === 'backlog' ? '100' : undefined, value: String(k.value), id: `threshold-${k.kind}`, style: 'width: 7em' });
    return { ...k, on, threshold,
      row: h('div', { class: 'row' }, on, h('label', { for: on.id, style: 'margin:0; font-weight:400' }, k.label), h('label', { for: threshold.id, class: 'muted', style: 'margin:0; font-weight:400' }, 'from'), threshold, h('span', { class: 'muted' }, k.unit)) };
  });
  const add = async () => {
    const on = {};
    for (const k of kinds.filter((k) => k.on.checked)) {
      const n = Number(k.threshold.value);
      on[k.kind] = k.kind === 'backlog' ? n / 100 : n;
    }
    try {
      const made = await api('POST', '/alerts', {
        name: name.value.trim() || undefined, url: url.value.trim(), secret: secret.value,
        window_s: Number(windowSelect.value), on, webhook: hook.value || undefined,
      });
      fill(message, h('p', { class: 'ok' }, `Alert ${made.name} added.`));
      go('#/alerts');
    } catch (error) {
      fill(message, errorBox(error));
      const bad = error && error.field ? { url, secret, name, window_s: windowSelect, webhook: hook }[error.field] : null;
      if (bad) { bad.setAttribute('aria-invalid', 'true'); bad.focus(); }
    }
  };

  return h('div', {},
    h('h1', {}, 'Alerts'),
    h('p', { class: 'muted' }, 'Where wasmhook tells you of trouble: a signed POST (Standard Webhooks) at most once per kind and webhook per window, with the count and a link; retried like a workflow’s webhook step.'),
    shown.length ? shown.map((a) => h('section', { class: 'card alert', 'aria-label': a.name },
      h('h3', {}, a.name),
      h('p', {}, h('code', {}, a.url), h('br'), conditions(a.on), ` within ${WINDOWS.find((w) => w.value === String(a.window_s))?.label || `${a.window_s} s`}`,
        a.webhook ? ` · only ${a.webhook.name}` : ' · every webhook', ` · signed with ${a.secret}`),
      messages(a),
      h('div', { class: 'actions' }, h('button', { class: 'danger', onclick: async () => {
        try { await api('DELETE', `/alerts/${encodeURIComponent(a.id)}`); go('#/alerts'); } catch (error) { fill(message, errorBox(error)); }
      } }, `Delete ${a.name}`)))) : h('p', { class: 'muted' }, 'No alert yet.'),
    h('h2', {}, 'Add an alert'),
    h('form', { id: 'alert-form', onsubmit: (e) => { e.preventDefault(); add(); } },
      field('Name', name, 'What you call it (default: the URL’s host).'),
      field('URL', url, 'Where the messages are POSTed.'),
      field('Signing secret', secret, 'A secret holding a whsec_… key; your receiver checks the signature with it.'),
      h('details', {}, h('summary', {}, 'Make a new signing key'),
        field('Secret name', keyName),
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: generate }, 'Generate a key')),
        keyShown),
      h('fieldset', {}, h('legend', {}, 'Tell me when'), kinds.map((k) => k.row)),
      field('Window', windowSelect, 'Counts are summed over it; one message per kind and webhook in it at most.'),
      field('Webhook', hook),
      h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Add alert'))),
    message);
}
