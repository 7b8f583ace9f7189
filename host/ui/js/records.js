// Records: an object's records in pages (search, sort, newest first), and one record — its
// properties, edited by their types, the enrollments it is in and the events that matched it.

import { api } from './api.js';
import { h, fill, badge, errorBox, field, select, ago } from './dom.js';

const SORTS = [
  { value: '-created', label: 'Newest first' },
  { value: 'created', label: 'Oldest first' },
  { value: '-updated', label: 'Recently updated' },
  { value: 'updated', label: 'Least recently updated' },
];

/** Property columns a list shows (the record page shows them all). */
const COLUMNS = 5;

const recordHref = (object, id) => `#/records/${encodeURIComponent(object)}/${encodeURIComponent(id)}`;

/** A property value as text for people. */
function shown(value, def) {
  if (value === undefined || value === null) return '';
  if (def && (def.type === 'date' || def.type === 'datetime') && typeof value === 'number') {
    const date = new Date(value);
    return def.type === 'date' ? date.toISOString().slice(0, 10) : date.toISOString();
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What people call a record: its name, else its email, else its first text value, else its id. */
export function title(record) {
  const p = record.properties;
  const text = p.name ?? p.email ?? Object.values(p).find((v) => typeof v === 'string');
  return text ? String(text) : record.id;
}

export async function list({ query, go }) {
  const { objects } = await api('GET', '/objects');
  const object = query.get('object') || 'contacts';
  const q = query.get('q') || '';
  const sort = query.get('sort') || '-created';
  const cursor = query.get('cursor') || '';
  const params = new URLSearchParams({ limit: '50', sort });
  if (q) params.set('q', q);
  if (cursor) params.set('cursor', cursor);
  const [{ properties }, page] = await Promise.all([
    api('GET', `/objects/${encodeURIComponent(object)}/properties`),
    api('GET', `/objects/${encodeURIComponent(object)}/records?${params}`),
  ]);
  const columns = properties.slice(0, COLUMNS);
  const objectSelect = select(objects.map((o) => ({ value: o.name, label: o.label })), object, { name: 'object' });
  const search = h('input', { type: 'search', name: 'q', value: q, placeholder: 'Name, email, id…' });
  const sortSelect = select(SORTS, sort, { name: 'sort' });
  const at = (next) => {
    const p = new URLSearchParams({ object: next.object ?? object });
    if (next.q ?? q) p.set('q', next.q ?? q);
    if ((next.sort ?? sort) !== '-created') p.set('sort', next.sort ?? sort);
    if (next.cursor) p.set('cursor', next.cursor);
    return `#/records?${p}`;
  };
  const label = (objects.find((o) => o.name === object) || { label: object }).label;
  return h('div', {},
    h('h1', {}, 'Records'),
    h('p', {}, h('a', { href: `#/records/import?object=${encodeURIComponent(object)}`, class: 'button' }, 'Import a CSV or NDJSON file')),
    h('form', {
      class: 'filters',
      role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        go(at({ object: objectSelect.value, q: search.value.trim(), sort: sortSelect.value }));
      },
    },
    field('Object', objectSelect), field('Search', search, 'Starts with, any text property or the id'),
    field('Sort', sortSelect), h('div', {}, h('button', { type: 'submit' }, 'Show'))),
    page.records.length === 0
      ? h('p', { class: 'muted', id: 'records-empty' }, q ? `No ${label.toLowerCase()} start with “${q}” here.` : `No ${label.toLowerCase()} here.`)
      : h('div', { class: 'table-wrap' }, h('table', { id: 'records' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Record'),
          columns.map((p) => h('th', { scope: 'col' }, p.label)),
          h('th', { scope: 'col' }, 'Updated'))),
        h('tbody', {}, page.records.map((r) => h('tr', {},
          h('td', {}, h('a', { href: recordHref(object, r.id) }, title(r)), h('div', { class: 'muted small' }, r.id)),
          columns.map((p) => h('td', {}, shown(r.properties[p.name], p))),
          h('td', {}, ago(r.updated_at))))))),
    h('nav', { class: 'actions', 'aria-label': 'Pages' },
      cursor ? h('a', { href: at({}) }, 'First page') : null,
      page.next_cursor ? h('a', { href: at({ cursor: page.next_cursor }), rel: 'next' }, 'Next page') : null));
}

/** The control for one property, typed as it is: its current value, empty for none. */
function control(def, value) {
  const name = def.name;
  if (def.type === 'enum') {
    return select([{ value: '', label: '(none)' }, ...def.options.map((o) => ({ value: o, label: o }))], value ?? '', { name });
  }
  if (def.type === 'boolean') {
    const current = value === true ? 'true' : value === false ? 'false' : '';
    return select([{ value: '', label: '(none)' }, { value: 'true', label: 'true' }, { value: 'false', label: 'false' }], current, { name });
  }
  if (def.type === 'number') return h('input', { type: 'number', step: 'any', name, value: value ?? '' });
  if (def.type === 'date' || def.type === 'datetime') {
    return h('input', { type: 'text', name, value: value ?? '', inputmode: 'numeric' });
  }
  return h('input', { type: 'text', name, value: value ?? '' });
}

/** What a control holds as the property's JSON value (`null`: none, which removes it). */
function valueOf(def, el) {
  const text = el.value.trim();
  if (text === '') return null;
  if (def.type === 'boolean') return text === 'true';
  if (def.type === 'number') return Number(text);
  if ((def.type === 'date' || def.type === 'datetime') && /^-?\d+$/.test(text)) return Number(text);
  return el.value;
}

export async function detail({ params: [object, id], go }) {
  const base = `/objects/${encodeURIComponent(object)}/records/${encodeURIComponent(id)}`;
  const [record, { properties }, { enrollments }, { events }, { workflows }, { webhooks }] = await Promise.all([
    api('GET', base),
    api('GET', `/objects/${encodeURIComponent(object)}/properties`),
    api('GET', `${base}/enrollments`),
    api('GET', `/events?record=${encodeURIComponent(id)}&limit=50`),
    api('GET', '/workflows'),
    api('GET', '/webhooks'),
  ]);
  const workflowNames = new Map(workflows.map((w) => [w.id, w.name]));
  const webhookNames = new Map(webhooks.map((w) => [w.id, w.name]));
  const message = h('div', { 'aria-live': 'polite' });
  const controls = properties.map((def) => [def, control(def, record.properties[def.name])]);
  const save = async (e) => {
    e.preventDefault();
    const changed = {};
    for (const [def, el] of controls) {
      const value = valueOf(def, el);
      const before = record.properties[def.name] ?? null;
      if (JSON.stringify(value) !== JSON.stringify(before)) changed[def.name] = value;
    }
    if (Object.keys(changed).length === 0) {
      fill(message, h('p', { class: 'muted', role: 'status' }, 'Nothing changed.'));
      return;
    }
    try {
      await api('PATCH', base, { properties: changed });
      go(`${recordHref(object, id)}?saved=1`);
    } catch (error) {
      fill(message, errorBox(error));
      const bad = error.field && controls.find(([def]) => `properties.${def.name}` === error.field);
      if (bad) {
        bad[1].setAttribute('aria-invalid', 'true');
        bad[1].focus();
      }
    }
  };
  if (location.hash.endsWith('?saved=1')) fill(message, h('p', { class: 'ok', role: 'status' }, 'Saved.'));
  return h('div', {},
    h('p', {}, h('a', { href: `#/records?object=${encodeURIComponent(object)}` }, `← ${object}`)),
    h('h1', {}, title(record)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Id'), h('dd', {}, record.id),
      h('dt', {}, 'Created'), h('dd', {}, ago(record.created_at)),
      h('dt', {}, 'Updated'), h('dd', {}, ago(record.updated_at))),
    h('section', {}, h('h2', {}, 'Properties'),
      message,
      h('form', { id: 'record-form', onsubmit: save },
        controls.map(([def, el]) => field(`${def.label}${def.unique ? ' (unique)' : ''}`, el, def.type === 'date' || def.type === 'datetime' ? 'Unix time in milliseconds' : null)),
        h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Save')))),
    h('section', {}, h('h2', {}, 'Enrollments'),
      enrollments.length === 0 ? h('p', { class: 'muted' }, 'Not enrolled in any workflow.')
        : h('ul', { id: 'record-enrollments' }, enrollments.map((en) => h('li', {},
          h('a', { href: `#/enrollments/${en.id}` }, workflowNames.get(en.workflow_id) || en.workflow_id), ' ',
          badge(en.status), ' ', ago(en.enrolled_at))))),
    h('section', {}, h('h2', {}, 'Events that matched it'),
      events.length === 0 ? h('p', { class: 'muted' }, 'No event has matched this record.')
        : h('ul', { id: 'record-events' }, events.map((ev) => h('li', {},
          h('a', { href: `#/events/${ev.id}` }, webhookNames.get(ev.webhook_id) || ev.webhook_id), ' ',
          badge(ev.status), ' ', ago(ev.received_at))))));
}
