// Building DOM nodes without innerHTML: every value from the API lands as text, so a payload
// can never inject markup into the admin's page.

/** h('button', {class: 'primary', onclick: fn}, 'Save') → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'value' || name === 'checked' || name === 'disabled' || name === 'selected') el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A status badge. */
export function badge(text) {
  return h('span', { class: `badge ${text}` }, text);
}

/** An error box (announced to screen readers). */
export function errorBox(error) {
  const field = error && error.field ? ` (field: ${error.field})` : '';
  return h('p', { class: 'error', role: 'alert' }, `${error && error.message ? error.message : error}${field}`);
}

/** A labelled control: a label bound to the control by id. */
let nextId = 0;
export function field(labelText, control, hint) {
  const id = control.id || `f${++nextId}`;
  control.id = id;
  const hintEl = hint ? h('div', { class: 'muted', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', {}, h('label', { for: id }, labelText), control, hintEl);
}

/** A select with options [{value, label}] and one selected value. */
export function select(options, selected, attrs = {}) {
  return h('select', attrs, options.map((o) => h('option', { value: o.value, selected: o.value === selected }, o.label)));
}

/** A JSON value as an expandable tree (objects and arrays are <details>). */
export function jsonTree(value, { open = 4 } = {}) {
  return h('div', { class: 'tree' }, node(null, value, 0, open));
}

function node(key, value, depth, open) {
  const keyEl = key === null ? null : h('span', { class: 'key' }, `${key}: `);
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const kind = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    return h('details', { open: depth < open },
      h('summary', {}, keyEl, h('span', { class: 'muted' }, kind)),
      entries.map(([k, v]) => node(k, v, depth + 1, open)));
  }
  return h('div', { class: 'leaf' }, keyEl, JSON.stringify(value));
}

/** Time as local text. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** Time as people say it ("3 minutes ago"), with the exact time on hover and for readers. */
export function ago(iso) {
  if (!iso) return '';
  const then = new Date(iso);
  const seconds = Math.round((then.getTime() - Date.now()) / 1000);
  const units = [['year', 31536000], ['month', 2592000], ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) || ['second', 1];
  const text = Math.abs(seconds) < 10 ? 'just now'
    : new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(Math.round(seconds / size), unit);
  return h('time', { datetime: iso, title: then.toLocaleString() }, text);
}
