// Plugins: what is loaded (world, size, hash) and uploads, with the reason a refused one
// was refused.

import { api } from './api.js';
import { h, fill, errorBox, field } from './dom.js';

export async function list({ go }) {
  const { plugins } = await api('GET', '/plugins');
  const nameInput = h('input', { type: 'text', name: 'name', required: true, pattern: '[a-z0-9][a-z0-9_-]*', autocomplete: 'off' });
  const fileInput = h('input', { type: 'file', name: 'file', accept: '.wasm,application/wasm', required: true });
  const message = h('div', { 'aria-live': 'polite', id: 'upload-result' });
  const rows = plugins.map((p) => h('tr', {},
    h('td', {}, p.name), h('td', {}, p.world), h('td', {}, `${(p.size / 1024).toFixed(1)} KiB`),
    h('td', {}, h('code', {}, p.sha256)), h('td', {}, p.builtin ? 'built in' : '')));
  const table = h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Name', 'World', 'Size', 'SHA-256', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
  return h('div', {},
    h('h1', {}, 'Plugins'),
    table,
    h('h2', {}, 'Upload a plugin'),
    h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        const file = fileInput.files[0];
        if (!file) return;
        fill(message, h('p', { class: 'muted' }, 'Checking…'));
        try {
          const r = await api('PUT', `/plugins/${encodeURIComponent(nameInput.value)}`, file, { contentType: 'application/wasm' });
          fill(message, h('p', { class: 'ok', role: 'status' }, `Uploaded ${r.name}: a ${r.world} plugin, ${r.size} bytes, sha256 ${r.sha256}.`));
          setTimeout(() => go('#/plugins'), 1500);
        } catch (error) {
          fill(message, h('div', {}, h('p', {}, 'The plugin was refused:'), errorBox(error)));
        }
      },
    },
    field('Name', nameInput, 'Lower-case letters, digits, - and _.'),
    field('Component file (.wasm)', fileInput, 'A WebAssembly component of the wasmhook:plugin transform or action world.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Upload')),
    message));
}
