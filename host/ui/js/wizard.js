// The four-step wizard: Name → Connect (→ Review the test event) → Map → Match.

import { api } from './api.js';
import { h, fill, errorBox, field, select, jsonTree, when } from './dom.js';
import { copyableUrl } from './webhooks.js';

const STEPS = ['Name', 'Connect', 'Review', 'Map', 'Match'];
const TYPES = [
  { value: '', label: 'Choose a type' },
  { value: 'string', label: 'string' },
  { value: 'enum', label: 'enum' },
  { value: 'number', label: 'number' },
  { value: 'boolean', label: 'boolean' },
];

function progress(current) {
  return h('ol', { class: 'steps', 'aria-label': 'Wizard steps' },
    STEPS.map((s, i) => h('li', { 'aria-current': s === current ? 'step' : null }, `${i + 1}. ${s}`)));
}

export async function name({ go }) {
  const input = h('input', { type: 'text', name: 'name', required: true, maxlength: 255, autocomplete: 'off' });
  const message = h('div', { 'aria-live': 'polite' });
  return h('div', {},
    h('h1', {}, 'New webhook'),
    progress('Name'),
    h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const w = await api('POST', '/webhooks', { name: input.value });
          go(`#/webhooks/${w.id}/connect`);
        } catch (error) {
          fill(message, errorBox(error));
        }
      },
    },
    field('Webhook name', input, 'Groups this event\'s fields wherever workflows pick trigger data.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Next: connect')),
    message));
}

export async function connect({ params: [id], go, onLeave }) {
  const w = await api('GET', `/webhooks/${id}`);
  const status = h('p', { role: 'status', 'aria-live': 'polite', id: 'test-event-status' });
  if (w.test_event_id) {
    fill(status, 'A test event has arrived.');
  } else {
    fill(status, 'Waiting for the test event… send any JSON payload to the URL above; this page moves on by itself.');
    const timer = setInterval(async () => {
      try {
        const now = await api('GET', `/webhooks/${id}`);
        if (now.test_event_id) {
          clearInterval(timer);
          fill(status, 'Test event received.');
          go(`#/webhooks/${id}/review`);
        }
      } catch (error) {
        fill(status, errorBox(error));
      }
    }, 1000);
    onLeave(() => clearInterval(timer));
  }
  return h('div', {},
    h('h1', {}, `Connect ${w.name}`),
    progress('Connect'),
    h('p', {}, 'Paste this URL into the app that sends the webhook, and make it send a test event. Anyone with the URL can post to it: treat it as a secret.'),
    copyableUrl(w.url),
    status,
    h('div', { class: 'actions' },
      w.test_event_id ? h('a', { class: 'button primary', href: `#/webhooks/${id}/review` }, 'Next: review the test event') : null,
      h('a', { class: 'button', href: `#/webhooks/${id}` }, 'Webhook settings')));
}

export async function review({ params: [id], go }) {
  const w = await api('GET', `/webhooks/${id}`);
  if (!w.test_event_id) {
    return h('div', {}, h('h1', {}, 'No test event yet'), progress('Review'),
      h('p', {}, h('a', { href: `#/webhooks/${id}/connect` }, 'Go back to Connect and send one.')));
  }
  const sample = await api('GET', `/webhooks/${id}/test-event`);
  const message = h('div', { 'aria-live': 'polite' });
  return h('div', {},
    h('h1', {}, 'Review the test event'),
    progress('Review'),
    h('p', {}, `Received ${when(sample.received_at)}; ${sample.fields.length} fields. Only fields in this sample can be mapped.`),
    jsonTree(sample.payload, { open: 8 }),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button',
        onclick: async () => {
          try {
            await api('DELETE', `/webhooks/${id}/test-event`);
            go(`#/webhooks/${id}/connect`);
          } catch (error) {
            fill(message, errorBox(error));
          }
        },
      }, 'Retry a new test event'),
      h('a', { class: 'button primary', href: `#/webhooks/${id}/map` }, 'Use this event: map its fields')),
    message);
}

/** The property name strtotime writes a converted date to. */
function unixName(path) {
  return `${path.replace(/\\\./g, '_').split('.').pop()}_unix`;
}

export async function map({ params: [id], go }) {
  const [w, sample] = await Promise.all([api('GET', `/webhooks/${id}`), api('GET', `/webhooks/${id}/test-event`)]);
  const existing = new Map(w.mapping.properties.map((p) => [p.path, p]));
  const fromMapping = w.mapping.properties.length > 0;
  // Cards: every sample field (already-mapped ones keep their settings).
  const cards = sample.fields
    .filter((f) => !fromMapping || existing.has(f.path))
    .map((f) => {
      const known = existing.get(f.path);
      return {
        path: f.path, sample: f.sample, suggested: f.suggested_type, date: f.suggested_transform === 'strtotime',
        label: known ? known.label || '' : '', type: known ? known.type : '', options: known ? (known.options || []).join(', ') : '',
      };
    });
  // Mapped paths the sample lacks (mapped through the API) are kept too.
  const inSample = new Set(sample.fields.map((f) => f.path));
  for (const p of w.mapping.properties.filter((m) => !inSample.has(m.path))) {
    cards.push({ path: p.path, sample: null, suggested: p.type, date: false, label: p.label || '', type: p.type, options: (p.options || []).join(', ') });
  }
  // strtotime steps keyed by the path they convert; other steps are kept as they are.
  const converts = new Map();
  const others = [];
  for (const t of w.transforms) {
    if (t.plugin === 'strtotime' && t.config.from) converts.set(t.config.from, t);
    else others.push(t);
  }
  const list = h('div', { class: 'cards' });
  const blocker = h('p', { role: 'status', id: 'map-status' });
  const message = h('div', { 'aria-live': 'polite' });
  const next = h('button', { type: 'button', class: 'primary', onclick: save }, 'Next: match');

  function check() {
    const missing = cards.filter((c) => !c.type).length;
    next.disabled = missing > 0 || cards.length === 0;
    fill(blocker, cards.length === 0 ? 'Keep at least one field.'
      : missing ? `${missing} of ${cards.length} fields still need a data type.` : `All ${cards.length} fields have a type.`);
    for (const el of list.children) el.classList.toggle('incomplete', !cards[Number(el.dataset.index)].type);
  }

  function draw() {
    fill(list, cards.map((c, i) => {
      const options = h('div', { hidden: c.type !== 'enum' },
        field('Options (comma-separated)', h('input', { type: 'text', value: c.options, oninput: (e) => { c.options = e.target.value; } })));
      const typeSelect = select(TYPES, c.type, {
        onchange: (e) => { c.type = e.target.value; options.hidden = c.type !== 'enum'; check(); },
      });
      const convert = converts.get(c.path);
      return h('section', { class: 'card', 'data-index': i, 'data-path': c.path, 'aria-label': `Field ${c.path}` },
        h('h3', {}, h('code', {}, c.path)),
        h('div', { class: 'muted' }, `sample: ${JSON.stringify(c.sample)} · suggested: ${c.suggested}`),
        field('Property label', h('input', { type: 'text', value: c.label, placeholder: c.path, maxlength: 255, oninput: (e) => { c.label = e.target.value; } })),
        field('Data type', typeSelect),
        options,
        c.date ? (convert
          ? h('p', { class: 'ok' }, `Converted by strtotime into ${convert.config.to} (unix seconds). `,
            h('button', { type: 'button', class: 'link', onclick: () => { converts.delete(c.path); draw(); } }, 'Undo'))
          : h('button', {
            type: 'button',
            onclick: () => {
              converts.set(c.path, { plugin: 'strtotime', config: { from: c.path, to: unixName(c.path) } });
              if (!c.type) c.type = 'string';
              draw();
            },
          }, 'Convert with strtotime')) : null,
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'danger', onclick: () => { cards.splice(i, 1); converts.delete(c.path); draw(); } }, 'Delete field')));
    }));
    check();
  }

  async function save() {
    const properties = cards.map((c) => ({
      path: c.path, label: c.label.trim() || null, type: c.type,
      options: c.type === 'enum' ? c.options.split(',').map((s) => s.trim()).filter(Boolean) : [],
    }));
    try {
      await api('PUT', `/webhooks/${id}/mapping`, { properties });
      const kept = [...converts.values()].filter((t) => cards.some((c) => c.path === t.config.from));
      await api('PUT', `/webhooks/${id}/transforms`, [...kept, ...others]);
      go(`#/webhooks/${id}/match`);
    } catch (error) {
      fill(message, errorBox(error));
    }
  }

  draw();
  return h('div', {},
    h('h1', {}, 'Map the fields'),
    progress('Map'),
    h('p', {}, 'Give every field a data type (dates: map as string and convert with strtotime). Delete what you do not need.'),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button',
        onclick: () => { for (const c of cards) if (!c.type) c.type = c.suggested; draw(); },
      }, 'Use suggested types')),
    list, blocker,
    h('div', { class: 'actions' }, next),
    message);
}

export async function match({ params: [id], go }) {
  const [w, { objects }] = await Promise.all([api('GET', `/webhooks/${id}`), api('GET', '/objects')]);
  const message = h('div', { 'aria-live': 'polite' });
  const current = w.match || {};
  const objectSelect = select([{ value: '', label: 'Choose an object' }, ...objects.map((o) => ({ value: o.name, label: o.label || o.name }))], current.object || '');
  const mapped = w.mapping.properties.map((p) => ({ value: p.path, label: p.label ? `${p.label} (${p.path})` : p.path }));
  const hookSelect = select([{ value: '', label: 'Choose a webhook property' }, ...mapped], current.webhook_property || '');
  const recordSlot = h('div', {});
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  let recordSelect = null;

  async function loadProperties() {
    recordSelect = null;
    if (!objectSelect.value) { fill(recordSlot); return; }
    const { properties } = await api('GET', `/objects/${encodeURIComponent(objectSelect.value)}/properties`);
    const unique = properties.filter((p) => p.unique);
    if (unique.length === 0) {
      fill(recordSlot, h('p', { class: 'notice' }, 'This object has no unique-value property; create one first (only unique properties can identify a record).'));
      return;
    }
    recordSelect = select([{ value: '', label: 'Choose a unique property' }, ...unique.map((p) => ({ value: p.name, label: p.label || p.name }))], current.record_property || '');
    fill(recordSlot, field('Unique record property', recordSelect, 'Only unique-value properties are offered.'));
  }
  objectSelect.addEventListener('change', () => loadProperties().catch((e) => fill(message, errorBox(e))));
  await loadProperties();

  return h('div', {},
    h('h1', {}, 'Match to a record'),
    progress('Match'),
    h('p', {}, 'An event enrolls the one existing record whose unique property equals the webhook property.'),
    h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api('PUT', `/webhooks/${id}/match`, {
            object: objectSelect.value, webhook_property: hookSelect.value, record_property: recordSelect ? recordSelect.value : '',
          });
          go(`#/webhooks/${id}`);
        } catch (error) {
          fill(message, errorBox(error));
        }
      },
    },
    field('Object', objectSelect),
    field('Webhook property', hookSelect),
    recordSlot,
    h('div', { class: 'actions' }, save),
    message));
}
