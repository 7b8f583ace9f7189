// Where a step's values come from, picked instead of typed: the trigger's properties (the
// triggering webhooks' mapped fields and what their transforms add), the record's
// properties, earlier steps' outputs, or a fixed value.

import { h, fill } from './dom.js';
import { addressOf, stepNumber } from './actions.js';

/** The choices a step at `address` can read: [{label, options: [{value, label}]}]. */
export function choicesFor(context, address) {
  const trigger = [...new Set(context.webhooks.filter((w) => context.draft.triggers.includes(w.id)).flatMap((w) => [
    ...w.mapping.properties.map((p) => p.path),
    ...w.transforms.map((t) => t.config && t.config.to).filter((to) => typeof to === 'string'),
  ]))].map((name) => ({ value: `trigger.${name}`, label: `Trigger: ${name}` }));
  const record = context.properties.map((p) => ({ value: `record.${p.name}`, label: `Record: ${p.label || p.name}` }));
  const outputs = earlierOutputs(context.draft.actions, address).map(({ at, name }) => ({
    value: `action.${at}.${name}`, label: `Step ${stepNumber(at)} output: ${name}`,
  }));
  return [
    { label: 'Trigger', options: trigger },
    { label: 'Record', options: record },
    { label: 'Earlier steps', options: outputs },
  ];
}

/** Outputs of the steps that run before `address` ({at, name}), in run order. */
export function earlierOutputs(actions, address) {
  const found = [];
  let reached = false;
  (function walk(list, prefix) {
    list.forEach((action, i) => {
      if (reached) return;
      const at = addressOf(prefix, i);
      if (at === address) { reached = true; return; }
      if (action.type === 'branch') {
        // Only a side the step is on runs before it.
        for (const side of ['then', 'else']) {
          if (address.startsWith(`${at}.${side}.`)) walk(action[side] || [], `${at}.${side}`);
        }
        return;
      }
      const names = (action.outputs || []).map((o) => o.name).filter(Boolean);
      if (action.type === 'send_webhook') names.unshift('status');
      for (const name of names) found.push({ at, name });
    });
  })(actions, '');
  return found;
}

/** A fixed value typed as text: numbers, true, false and null are typed; other text is text. */
export function literal(text) {
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text.trim())) return Number(text.trim());
  if (['true', 'false', 'null'].includes(text.trim())) return JSON.parse(text.trim());
  return text;
}

/** The text a fixed value is edited as. */
export function literalText(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const FIXED = '__fixed';

/** A source picker labelled `labelText`: a select of the choices and "A fixed value", which
 * shows a text box. `get()`/`set(source)` read and write the source's JSON form; `choices()`
 * gives the groups. `refresh()` rebuilds the options (earlier outputs change as the draft does). */
export function sourcePicker(labelText, get, set, choices) {
  const selectEl = h('select', {});
  const text = h('input', { type: 'text', 'aria-label': `${labelText}: fixed value` });
  const current = () => get();
  const isPath = (s) => typeof s === 'string';

  function refresh() {
    const s = current();
    const groups = choices();
    const known = groups.some((g) => g.options.some((o) => o.value === s));
    fill(selectEl,
      h('option', { value: '' }, 'Choose a value'),
      groups.filter((g) => g.options.length).map((g) =>
        h('optgroup', { label: g.label }, g.options.map((o) => h('option', { value: o.value, selected: o.value === s }, o.label)))),
      isPath(s) && s && !known ? h('option', { value: s, selected: true }, s) : null,
      h('option', { value: FIXED, selected: s !== undefined && !isPath(s) }, 'A fixed value…'));
    const fixed = s !== undefined && !isPath(s);
    text.hidden = !fixed;
    if (fixed && document.activeElement !== text) text.value = literalText(s && typeof s === 'object' ? s.value : s);
  }

  selectEl.addEventListener('change', () => {
    if (selectEl.value === FIXED) {
      set({ value: '' });
      text.value = '';
      text.hidden = false;
      text.focus();
    } else {
      set(selectEl.value || undefined);
      text.hidden = true;
    }
  });
  text.addEventListener('input', () => {
    const v = literal(text.value);
    set(typeof v === 'string' ? { value: v } : v);
  });
  refresh();
  return { selectEl, text, refresh };
}
