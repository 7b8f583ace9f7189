// Sign-in and the hash router: each route renders one view into <main>, moves focus to its
// heading (so keyboard and screen-reader users land on the new page), and cleans up
// whatever the previous view left running (polling).

import { api, signIn, signOut, token } from './api.js';
import { h, fill, errorBox, field } from './dom.js';
import * as webhooks from './webhooks.js';
import * as wizard from './wizard.js';
import * as events from './events.js';
import * as plugins from './plugins.js';
import * as records from './records.js';
import * as recordImport from './record_import.js';
import * as workflows from './workflows.js';
import * as workflowEditor from './workflow_editor.js';
import * as dashboard from './dashboard.js';
import * as alerts from './alerts.js';

const routes = [
  [/^\/dashboard$/, dashboard.page],
  [/^\/alerts$/, alerts.list],
  [/^\/webhooks$/, webhooks.list],
  [/^\/webhooks\/new$/, wizard.name],
  [/^\/webhooks\/([^/]+)\/connect$/, wizard.connect],
  [/^\/webhooks\/([^/]+)\/review$/, wizard.review],
  [/^\/webhooks\/([^/]+)\/map$/, wizard.map],
  [/^\/webhooks\/([^/]+)\/match$/, wizard.match],
  [/^\/webhooks\/([^/]+)\/transforms$/, webhooks.transforms],
  [/^\/webhooks\/([^/]+)$/, webhooks.detail],
  [/^\/events$/, events.list],
  [/^\/events\/([^/]+)$/, events.detail],
  [/^\/workflows$/, workflows.list],
  [/^\/workflows\/new$/, workflowEditor.edit],
  [/^\/workflows\/([^/]+)\/edit$/, workflowEditor.edit],
  [/^\/workflows\/([^/]+)$/, workflows.detail],
  [/^\/enrollments\/([^/]+)$/, workflows.enrollment],
  [/^\/records$/, records.list],
  [/^\/records\/import$/, recordImport.page],
  [/^\/records\/([^/]+)\/([^/]+)$/, records.detail],
  [/^\/plugins$/, plugins.list],
];

const main = () => document.getElementById('main');
let cleanups = [];

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  cleanups.forEach((f) => f());
  cleanups = [];
  const nav = document.getElementById('nav');
  if (!token()) {
    nav.hidden = true;
    return show(signInView());
  }
  nav.hidden = false;
  const [path, queryText] = (location.hash.slice(1) || '/webhooks').split('?');
  for (const a of nav.querySelectorAll('a')) {
    if (path.startsWith(a.getAttribute('href').slice(1))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const found = routes.find(([pattern]) => pattern.test(path));
  if (!found) return show(h('div', {}, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/webhooks' }, 'Back to webhooks'))));
  const [pattern, view] = found;
  const params = path.match(pattern).slice(1).map(decodeURIComponent);
  const ctx = { params, query: new URLSearchParams(queryText || ''), go, onLeave: (f) => cleanups.push(f) };
  const rendering = location.hash;
  fill(main(), h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  try {
    const node = await view(ctx);
    if (location.hash === rendering) show(node);
  } catch (error) {
    // A 401 has already taken the page back to sign-in.
    if (token() && location.hash === rendering) show(h('div', {}, h('h1', {}, 'Something went wrong'), errorBox(error)));
  }
}

function show(node) {
  fill(main(), node);
  const heading = main().querySelector('h1');
  document.title = heading ? `${heading.textContent} · wasmhook` : 'wasmhook';
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

function signInView() {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true });
  const message = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      signIn(input.value.trim());
      try {
        await api('GET', '/webhooks', undefined, { checking: true });
        render();
      } catch (error) {
        signOut();
        fill(message, errorBox(error.status === 401 ? 'That token was not accepted.' : error));
      }
    },
  },
  field('Admin token', input, 'Printed by `wasmhook serve` on first start and saved in the data dir as admin-token.'),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  message);
  return h('div', {}, h('h1', {}, 'Sign in'), form);
}

window.addEventListener('hashchange', render);
window.addEventListener('wasmhook:signed-out', render);
document.getElementById('sign-out').addEventListener('click', () => { signOut(); render(); });
render();
