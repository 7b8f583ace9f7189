// Workflows: the list with enable/disable, one workflow's steps and enrollments, and an
// enrollment's step log. The editor is workflow_editor.js.

import { api } from './api.js';
import { h, fill, badge, errorBox, jsonTree, when, ago } from './dom.js';
import { actionList } from './actions.js';
import { title } from './records.js';

export async function list() {
  const [{ workflows }, { webhooks }] = await Promise.all([api('GET', '/workflows'), api('GET', '/webhooks')]);
  const hookNames = new Map(webhooks.map((w) => [w.id, w.name]));
  const message = h('div', { 'aria-live': 'polite' });
  return h('div', {},
    h('h1', {}, 'Workflows'),
    h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/workflows/new' }, 'New workflow')),
    message,
    workflows.length === 0 ? h('p', { class: 'muted' }, 'No workflows yet.') :
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'Object', 'Triggered by', 'Actions', 'Enabled'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, workflows.map((w) => {
          const toggle = h('input', {
            type: 'checkbox', checked: w.enabled, 'aria-label': `Enable ${w.name}`,
            onchange: async (e) => {
              try {
                await api('PATCH', `/workflows/${w.id}`, { enabled: e.target.checked });
                fill(message, h('p', { role: 'status', class: 'ok' }, `${w.name} is ${e.target.checked ? 'enabled' : 'disabled'}.`));
              } catch (error) {
                e.target.checked = !e.target.checked;
                fill(message, errorBox(error));
              }
            },
          });
          return h('tr', {},
            h('td', {}, h('a', { href: `#/workflows/${w.id}` }, w.name)),
            h('td', {}, w.object), h('td', {}, w.triggers.map((t) => hookNames.get(t) || t).join(', ') || h('span', { class: 'muted' }, 'none')), h('td', {}, String(w.actions.length)),
            h('td', {}, toggle));
        })))));
}

export async function detail({ params: [id] }) {
  const [w, { enrollments }] = await Promise.all([api('GET', `/workflows/${id}`), api('GET', `/workflows/${id}/enrollments`)]);
  return h('div', {},
    h('h1', {}, w.name),
    h('p', {}, `${w.object} · ${w.enabled ? 'enabled' : 'disabled'} · re-enrollment ${w.reenroll ? 'on' : 'off'}`),
    h('div', { class: 'actions' }, h('a', { class: 'button primary', href: `#/workflows/${w.id}/edit` }, 'Edit workflow')),
    h('h2', {}, 'Steps'),
    w.actions.length ? actionList(w.actions) : h('p', { class: 'muted' }, 'No steps: records are enrolled only.'),
    h('h2', {}, `Enrollments (${enrollments.length})`),
    enrollments.length === 0 ? h('p', { class: 'muted' }, 'None yet.') :
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Enrolled', 'Record', 'Status', 'Steps', 'Reason'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, enrollments.map((e) => h('tr', {},
          h('td', {}, h('a', { href: `#/enrollments/${e.id}` }, ago(e.enrolled_at))),
          h('td', {}, h('a', { href: `#/records/${encodeURIComponent(w.object)}/${encodeURIComponent(e.record_id)}` }, h('code', {}, e.record_id))), h('td', {}, badge(e.status)),
          h('td', {}, String(e.steps_run)), h('td', {}, e.reason || '')))))));
}

export async function enrollment({ params: [id] }) {
  const e = await api('GET', `/enrollments/${id}`);
  // Names where people think in names: the workflow's, and the record's (its name or email).
  const w = await api('GET', `/workflows/${e.workflow_id}`).catch(() => null);
  const record = w ? await api('GET', `/objects/${encodeURIComponent(w.object)}/records/${encodeURIComponent(e.record_id)}`).catch(() => null) : null;
  return h('div', {},
    h('h1', {}, `Enrollment ${e.id}`),
    h('p', { id: 'enrollment-of' }, badge(e.status), ' ',
      w ? h('a', { href: `#/records/${encodeURIComponent(w.object)}/${encodeURIComponent(e.record_id)}` }, record ? title(record) : e.record_id) : h('code', {}, e.record_id),
      ' in ', w ? h('a', { href: `#/workflows/${e.workflow_id}` }, w.name) : h('code', {}, e.workflow_id),
      ` · enrolled `, ago(e.enrolled_at), ` · event `, h('a', { href: `#/events/${e.event_id}` }, e.event_id)),
    e.reason ? errorBox(e.reason) : null,
    e.waiting ? h('p', { id: 'enrollment-waiting', role: 'status' },
      e.waiting.for === 'delay' ? `Waiting (delay, step ${e.waiting.step}) until ` : `Step ${e.waiting.step} is tried again `,
      when(e.waiting.until)) : null,
    h('h2', {}, 'Steps'),
    (e.steps || []).length === 0 ? h('p', { class: 'muted' }, 'No steps ran.') :
      h('ol', {}, e.steps.map((s) => h('li', {},
        h('p', {}, h('strong', {}, `${s.type || 'step'} ${s.address ?? ''}`), ' ', badge(s.outcome || ''),
          s.duration_ms !== undefined ? ` · ${Number(s.duration_ms).toFixed(2)} ms · attempt ${s.attempt}` : ''),
        s.reason ? errorBox(s.reason) : null,
        jsonTree(s, { open: 1 })))),
    h('p', {}, h('a', { href: `#/workflows/${e.workflow_id}` }, 'Back to the workflow')));
}
