// Webhooks: the list (with the count used of 100), one webhook's settings, and its
// transform chain with a test against the captured sample.

import { api } from './api.js';
import { h, fill, badge, errorBox, field, select, jsonTree, when, ago } from './dom.js';

/** A read-only URL with a copy button that says when it copied. */
export function copyableUrl(url, labelText = 'Webhook URL') {
  const input = h('input', { type: 'text', readonly: true, value: url, class: 'mono' });
  const said = h('span', { role: 'status', class: 'muted' });
  const copy = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(url);
      } catch {
        input.select();
        document.execCommand('copy');
      }
      fill(said, 'Copied');
    },
  }, 'Copy URL');
  const wrapped = field(labelText, input);
  wrapped.append(h('div', { class: 'row' }, copy, said));
  return wrapped;
}

export async function list() {
  const { webhooks, count, limit } = await api('GET', '/webhooks');
  const full = count >= limit;
  return h('div', {},
    h('h1', {}, 'Webhooks'),
    h('p', { id: 'webhook-count' }, `${count} of ${limit} webhooks used`),
    h('div', { class: 'actions' },
      full ? h('button', { type: 'button', disabled: true }, 'New webhook (limit reached)')
        : h('a', { class: 'button primary', href: '#/webhooks/new' }, 'New webhook')),
    webhooks.length === 0 ? h('p', { class: 'muted' }, 'No webhooks yet.') :
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'State', 'Created', 'Events'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, webhooks.map((w) => h('tr', {},
          h('td', {}, h('a', { href: `#/webhooks/${w.id}` }, w.name)),
          h('td', {}, badge(w.state)),
          h('td', {}, ago(w.created_at)),
          h('td', {}, h('a', { href: `#/events?webhook=${w.id}` }, 'Events'))))))));
}

export async function detail({ params: [id], go }) {
  const w = await api('GET', `/webhooks/${id}`);
  const message = h('div', { 'aria-live': 'polite' });
  const mapping = w.mapping.properties;
  return h('div', {},
    h('h1', {}, w.name),
    h('dl', { class: 'facts' },
      h('dt', {}, 'State'), h('dd', {}, badge(w.state)),
      h('dt', {}, 'Created'), h('dd', {}, ago(w.created_at)),
      h('dt', {}, 'Match'), h('dd', {}, w.match
        ? `${w.match.object}.${w.match.record_property} = ${w.match.webhook_property}` : 'not chosen yet'),
      h('dt', {}, 'Transforms'), h('dd', {}, w.transforms.length
        ? w.transforms.map((t) => t.plugin).join(' → ') : 'none'),
      h('dt', {}, 'Signature failures'), h('dd', {}, String(w.signature_failures)),
      h('dt', {}, 'Rate limit'), h('dd', {}, w.rate_limit
        ? `${w.rate_limit.per_second}/s, bursts of ${w.rate_limit.burst} (${w.rate_limit.limited} refused)` : ''),
      h('dt', {}, 'Events kept'), h('dd', {}, `${w.retention.days} days`
        + (w.retention.source === 'webhook' ? ' (its own)' : " (the server's default)"))),
    copyableUrl(w.url),
    w.previous_token ? h('p', { class: 'notice' }, `The previous URL keeps working until ${when(w.previous_token.expires_at)}.`) : null,
    h('h2', {}, 'Set-up'),
    h('div', { class: 'actions' },
      h('a', { class: 'button', href: `#/webhooks/${id}/connect` }, 'Connect'),
      h('a', { class: 'button', href: `#/webhooks/${id}/review` }, 'Review test event'),
      h('a', { class: 'button', href: `#/webhooks/${id}/map` }, 'Map'),
      h('a', { class: 'button', href: `#/webhooks/${id}/match` }, 'Match'),
      h('a', { class: 'button', href: `#/webhooks/${id}/transforms` }, 'Transforms'),
      h('a', { class: 'button', href: `#/events?webhook=${id}` }, 'Events')),
    h('h2', {}, `Mapped properties (${mapping.length})`),
    mapping.length === 0 ? h('p', { class: 'muted' }, 'Nothing mapped yet.') :
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Path', 'Label', 'Type'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, mapping.map((p) => h('tr', {},
          h('td', {}, h('code', {}, p.path)), h('td', {}, p.label || ''),
          h('td', {}, p.type + (p.options && p.options.length ? ` (${p.options.join(', ')})` : ''))))))),
    retentionForm(w, go),
    h('h2', {}, 'Danger zone'),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button',
        onclick: async () => {
          if (!confirm('Give this webhook a new URL? The current one keeps working for a day.')) return;
          try { await api('POST', `/webhooks/${id}/rotate-token`); go(`#/webhooks/${id}`); } catch (e) { fill(message, errorBox(e)); }
        },
      }, 'Rotate URL'),
      h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          if (!confirm(`Delete webhook "${w.name}"? Its URL stops working at once; its events stay in the log.`)) return;
          try { await api('DELETE', `/webhooks/${id}`); go('#/webhooks'); } catch (e) { fill(message, errorBox(e)); }
        },
      }, 'Delete webhook')),
    message);
}

/** How long this webhook's events are kept: its own number of days, or the server's. */
function retentionForm(w, go) {
  const said = h('div', { 'aria-live': 'polite' });
  const days = h('input', { type: 'number', min: '0.0001', step: 'any', value: String(w.retention.days), required: true });
  const whose = w.retention.source === 'webhook' ? "this webhook's own" : "the server's default";
  const save = async (e) => {
    e.preventDefault();
    try {
      await api('PUT', `/webhooks/${w.id}/retention`, { days: Number(days.value) });
      go(`#/webhooks/${w.id}`);
    } catch (err) { fill(said, errorBox(err)); }
  };
  const reset = async () => {
    try { await api('DELETE', `/webhooks/${w.id}/retention`); go(`#/webhooks/${w.id}`); } catch (err) { fill(said, errorBox(err)); }
  };
  return h('form', { onsubmit: save },
    h('h2', {}, 'Retention'),
    h('p', { id: 'retention-now' }, `Events are kept ${w.retention.days} days after they arrive (${whose}); `
      + 'then they are deleted, unless still waiting to be processed. The test event is always kept.'),
    field('Keep events for (days)', days),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Save retention'),
      w.retention.source === 'webhook' ? h('button', { type: 'button', onclick: reset }, 'Use the server default') : null),
    said);
}

/** The transform chain editor: steps of plugin + settings, tried on the test event. */
export async function transforms({ params: [id] }) {
  const [w, { plugins }] = await Promise.all([api('GET', `/webhooks/${id}`), api('GET', '/plugins')]);
  const names = plugins.filter((p) => p.world === 'transform').map((p) => ({ value: p.name, label: p.name }));
  const steps = w.transforms.map((t) => ({ plugin: t.plugin, config: Object.entries(t.config).map(([k, v]) => [k, String(v)]) }));
  const editor = h('div', {});
  const result = h('div', { 'aria-live': 'polite' });
  const body = () => steps.map((s) => ({ plugin: s.plugin, config: Object.fromEntries(s.config.filter(([k]) => k.trim())) }));

  function stepCard(step, i) {
    const settings = step.config.map((pair, j) => h('div', { class: 'row' },
      field(`Setting ${j + 1} name`, h('input', { type: 'text', value: pair[0], oninput: (e) => { pair[0] = e.target.value; } })),
      field(`Setting ${j + 1} value`, h('input', { type: 'text', value: pair[1], oninput: (e) => { pair[1] = e.target.value; } })),
      h('button', { type: 'button', class: 'link', onclick: () => { step.config.splice(j, 1); draw(); } }, `Remove setting ${j + 1}`)));
    const moveUp = i > 0
      ? h('button', { type: 'button', onclick: () => { steps.splice(i - 1, 0, steps.splice(i, 1)[0]); draw(); } }, 'Move up')
      : null;
    return h('li', { class: 'card' },
      h('h3', {}, `Step ${i + 1}`),
      field('Plugin', select(names, step.plugin, { onchange: (e) => { step.plugin = e.target.value; } })),
      h('div', {}, settings),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => { step.config.push(['', '']); draw(); } }, 'Add setting'),
        moveUp,
        h('button', { type: 'button', class: 'danger', onclick: () => { steps.splice(i, 1); draw(); } }, `Remove step ${i + 1}`)));
  }

  function draw() {
    const add = () => { steps.push({ plugin: names[0] ? names[0].value : '', config: [] }); draw(); };
    fill(editor,
      steps.length === 0 ? h('p', { class: 'muted' }, 'No steps: events keep their mapped properties.') : null,
      h('ol', { class: 'cards' }, steps.map(stepCard)),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: add }, 'Add step')));
  }
  draw();

  async function test() {
    fill(result, h('p', { class: 'muted' }, 'Running…'));
    try {
      const r = await api('POST', `/webhooks/${id}/transforms/test`, body());
      fill(result,
        h('h2', {}, 'Result on the captured sample'),
        r.error ? errorBox(r.error) : h('p', { class: 'ok' }, 'Every step succeeded.'),
        r.coerced ? h('div', {}, h('h3', {}, 'After coercion'), jsonTree(r.coerced)) : null,
        (r.steps || []).map((s, i) => h('div', { class: 'card test-step' },
          h('h3', {}, `Step ${i + 1}: ${s.plugin}`),
          s.error ? errorBox(`${s.outcome || 'error'}: ${s.error}`)
            : h('div', {}, h('p', { class: 'muted' }, `${s.duration_us} µs`), jsonTree(s.output)),
          s.log ? h('pre', { class: 'mono' }, s.log) : null)),
        r.properties ? h('div', {}, h('h3', {}, 'Final properties'), jsonTree(r.properties)) : null);
    } catch (e) {
      fill(result, errorBox(e));
    }
  }

  async function save() {
    try {
      await api('PUT', `/webhooks/${id}/transforms`, body());
      fill(result, h('p', { class: 'ok' }, 'Saved: events processed from now on use this chain.'));
    } catch (e) {
      fill(result, errorBox(e));
    }
  }

  return h('div', {},
    h('h1', {}, `Transforms of ${w.name}`),
    h('p', {}, h('a', { href: `#/webhooks/${id}` }, 'Back to the webhook')),
    editor,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: test, disabled: !w.test_event_id }, 'Test against the captured sample'),
      h('button', { type: 'button', class: 'primary', onclick: save }, 'Save chain')),
    result);
}
