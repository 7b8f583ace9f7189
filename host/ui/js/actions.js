// A workflow's actions as people read them: a numbered list in run order ("Set Tier to
// the output tier of step 1"), branches indented with their two sides; and the wording of
// sources, shared with the editor.

import { h } from './dom.js';

export const OPS = [
  { value: 'equals', label: 'equals' },
  { value: 'not_equals', label: 'does not equal' },
  { value: 'contains', label: 'contains' },
  { value: 'greater', label: 'is greater than' },
  { value: 'less', label: 'is less than' },
  { value: 'is_empty', label: 'is empty' },
];

/** The address of action `i` of a list at `prefix` (`0`, `2.then.1`). */
export function addressOf(prefix, i) {
  return prefix ? `${prefix}.${i}` : String(i);
}

/** A step's number as people count (`3`, `3 → then 2`). */
export function stepNumber(address) {
  return address.split('.').map((part) => (/^\d+$/.test(part) ? String(Number(part) + 1) : `→ ${part}`)).join(' ');
}

/** A source (`trigger.amount`, `record.email`, `action.0.score`, a literal) in words. */
export function describeSource(source) {
  if (typeof source === 'string') {
    if (source.startsWith('trigger.')) return `trigger ${source.slice(8)}`;
    if (source.startsWith('record.')) return `record ${source.slice(7)}`;
    const output = /^action\.(.+)\.([^.]+)$/.exec(source);
    if (output) return `output ${output[2]} of step ${stepNumber(output[1])}`;
    return source;
  }
  if (source && typeof source === 'object' && 'value' in source) return JSON.stringify(source.value);
  return JSON.stringify(source);
}

/** One line saying what an action does. */
/** Seconds for people: `2 h 30 min`, `45 s`, `3 d`. */
export function duration(seconds) {
  const parts = [];
  let left = Number(seconds) || 0;
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
    if (left >= size) { parts.push(`${Math.floor(left / size)} ${unit}`); left %= size; }
  }
  return parts.length ? parts.join(' ') : '0 s';
}

export function summary(action) {
  switch (action.type) {
    case 'custom_code': {
      const language = { javascript: 'JavaScript', python: 'Python' }[action.language] || action.language || 'code';
      const code = action.source !== undefined ? `${language} written in the step` : `plugin ${action.plugin}`;
      const inputs = Object.entries(action.inputs || {}).map(([name, s]) => `${name} ← ${describeSource(s)}`);
      const outputs = (action.outputs || []).map((o) => `${o.name} (${o.type})`);
      return `Custom code: ${code}` +
        (inputs.length ? `; inputs ${inputs.join(', ')}` : '') +
        (outputs.length ? `; outputs ${outputs.join(', ')}` : '') +
        ((action.secrets || []).length ? `; secrets ${action.secrets.join(', ')}` : '');
    }
    case 'set_property':
      return `Set property ${action.property} to ${describeSource(action.value)}`;
    case 'send_webhook':
      return `Send webhook: ${action.method || 'POST'} ${action.url}` +
        (action.signing ? ` (signed, ${action.signing.scheme})` : '') +
        ((action.outputs || []).length ? `; outputs ${action.outputs.map((o) => o.name).join(', ')}` : '');
    case 'branch': {
      const c = action.if || {};
      const op = (OPS.find((o) => o.value === c.op) || { label: c.op }).label;
      return `If ${describeSource(c.source)} ${op}${c.op === 'is_empty' ? '' : ` ${JSON.stringify(c.value)}`}`;
    }
    case 'delay':
      if (action.until !== undefined) {
        const offset = action.offset_s ? ` ${action.offset_s > 0 ? '+' : '−'} ${duration(Math.abs(action.offset_s))}` : '';
        return `Delay until ${describeSource(action.until)}${offset}`;
      }
      return `Delay ${duration(action.for_s)}`;
    default:
      return action.type;
  }
}

/** The actions as a numbered, nested list. */
export function actionList(actions, prefix = '') {
  return h('ol', { class: 'action-list' }, actions.map((action, i) => {
    const address = addressOf(prefix, i);
    return h('li', { 'data-address': address },
      h('span', {}, summary(action)),
      action.type === 'branch' ? [
        h('div', { class: 'side' }, h('strong', {}, 'Then'), (action.then || []).length
          ? actionList(action.then, `${address}.then`) : h('span', { class: 'muted' }, ' nothing')),
        h('div', { class: 'side' }, h('strong', {}, 'Else'), (action.else || []).length
          ? actionList(action.else, `${address}.else`) : h('span', { class: 'muted' }, ' nothing')),
      ] : null);
  }));
}
