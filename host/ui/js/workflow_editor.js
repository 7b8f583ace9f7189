// The workflow editor: settings, then the actions as cards in run order (custom code with a
// code box, set property, branch with its two sides, send webhook), each with a Test
// against a real record that runs the unsaved draft. A refused save is shown on the card
// it names, and a syntax error at its line in the code box.

import { api } from './api.js';
import { h, fill, badge, errorBox, field, select } from './dom.js';
import { OPS, addressOf, stepNumber } from './actions.js';
import { codeBox } from './code_box.js';
import { choicesFor, sourcePicker, literal, literalText } from './sources.js';

const STARTER = `exports.main = async (event, callback) => {
  const { email } = event.inputFields;
  callback({ outputFields: { domain: email.split('@')[1] } });
};
`;

const PYTHON_STARTER = `import os

def main(event):
    email = event["inputFields"]["email"]
    return {"outputFields": {"domain": email.split("@")[1]}}
`;

const STARTERS = { javascript: STARTER, python: PYTHON_STARTER };
const LANGUAGES = { javascript: 'JavaScript', python: 'Python' };

const KINDS = [
  { value: 'custom_code', label: 'Custom code' },
  { value: 'set_property', label: 'Set property' },
  { value: 'branch', label: 'Branch' },
  { value: 'send_webhook', label: 'Send webhook' },
  { value: 'delay', label: 'Delay' },
];

/** A step kind's name as the editor shows it. */
function kindName(type) {
  return (KINDS.find((k) => k.value === type) || { label: type }).label;
}

const OUTPUT_TYPES = ['string', 'number', 'boolean', 'enumeration', 'datetime'].map((t) => ({ value: t, label: t }));

/** A new action of `kind`, ready to fill in. */
function blank(kind) {
  switch (kind) {
    case 'custom_code':
      return { type: 'custom_code', language: 'javascript', source: STARTER, inputs: {}, secrets: [], outputs: [] };
    case 'set_property':
      return { type: 'set_property', property: '', value: undefined };
    case 'branch':
      return { type: 'branch', if: { source: undefined, op: 'equals', value: '' }, then: [], else: [] };
    case 'delay':
      return { type: 'delay', for_s: 3600 };
    default:
      return { type: 'send_webhook', url: 'https://', method: 'POST' };
  }
}

/** `actions[2].then[0]` for address `2.then.0`: how the API names a step's fields. */
function fieldOf(address) {
  return `actions${address.split('.').map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')}`;
}

/** Rows of `[name, value]` edited in place of an object (inputs, body, headers): the pairs
 * live beside the action so a half-typed name survives a redraw. */
const pairsOf = new WeakMap();
function pairs(action, key) {
  let byKey = pairsOf.get(action);
  if (!byKey) pairsOf.set(action, (byKey = {}));
  if (!byKey[key]) byKey[key] = Object.entries(action[key] || {});
  return byKey[key];
}
function writePairs(action, key, optional) {
  const list = pairs(action, key);
  if (optional && list.length === 0) delete action[key];
  else action[key] = Object.fromEntries(list);
}

export async function edit({ params: [id], go }) {
  const [existing, { webhooks }, { objects }, { secrets }, { plugins }] = await Promise.all([
    id ? api('GET', `/workflows/${id}`) : null,
    api('GET', '/webhooks'), api('GET', '/objects'), api('GET', '/secrets'), api('GET', '/plugins'),
  ]);
  const draft = existing
    ? { name: existing.name, object: existing.object, enabled: existing.enabled, reenroll: existing.reenroll,
      triggers: [...existing.triggers], actions: structuredClone(existing.actions) }
    : { name: '', object: objects.length ? objects[0].name : '', enabled: true, reenroll: false, triggers: [], actions: [] };
  const context = { draft, webhooks, properties: [], secrets: secrets.map((s) => s.name),
    plugins: plugins.filter((p) => p.world === 'action').map((p) => p.name) };
  let pickers = [];
  let slots = new Map(); // field prefix → {error(message)} of each card
  const message = h('div', { 'aria-live': 'polite', id: 'save-result' });
  const list = h('div', {});

  async function loadProperties() {
    context.properties = draft.object
      ? (await api('GET', `/objects/${encodeURIComponent(draft.object)}/properties`)).properties : [];
  }

  const refreshSources = () => pickers.forEach((p) => p.refresh());

  function picker(labelText, get, set, address) {
    const p = sourcePicker(labelText, get, set, () => choicesFor(context, address));
    pickers.push(p);
    const wrapped = field(labelText, p.selectEl);
    wrapped.append(p.text);
    return wrapped;
  }

  // --- one action card per kind ------------------------------------------------------

  function customCode(action, address) {
    const written = action.source !== undefined;
    const codeChoice = select([
      ...Object.entries(LANGUAGES).map(([value, name]) => ({ value, label: `${name} written here` })),
      ...context.plugins.map((p) => ({ value: `plugin:${p}`, label: `Plugin: ${p}` }))],
    written ? action.language : `plugin:${action.plugin}`, {
      onchange: (e) => {
        const language = e.target.value;
        if (LANGUAGES[language]) {
          delete action.plugin;
          // A starter replaces only an untouched starter of the other language.
          const untouched = action.source === undefined || Object.values(STARTERS).includes(action.source);
          Object.assign(action, { language, source: untouched ? STARTERS[language] : action.source });
        } else {
          delete action.language;
          delete action.source;
          action.plugin = e.target.value.slice(7);
        }
        delete action.sha256;
        draw();
      },
    });
    const parts = [field('Code', codeChoice)];
    if (written) {
      const box = codeBox(`Source (${LANGUAGES[action.language] || action.language})`, action.source, (text) => { action.source = text; });
      slots.get(fieldOf(address)).code = box;
      parts.push(box.element, h('p', { class: 'muted' }, action.language === 'python'
        ? 'def main(event): return {"outputFields": {…}} · event["inputFields"] · os.getenv("NAME") for secrets · print · json · requests to the allowed hosts. Tab indents; Esc then Tab leaves the box.'
        : 'exports.main = async (event, callback) => … · event.inputFields · process.env.NAME for secrets · console.log · fetch and require(\'axios\') to the allowed hosts. Tab indents; Esc then Tab leaves the box.'));
    } else if (action.sha256) {
      parts.push(h('p', { class: 'muted' }, `Pinned to sha256 ${action.sha256.slice(0, 12)}…; saving keeps this version.`));
    }
    parts.push(inputRows(action, address), secretChoices(action), outputRows(action, address, false));
    const hosts = h('input', { type: 'text', value: (action.allowed_hosts || []).join(', '), class: 'mono',
      oninput: (e) => {
        const listed = e.target.value.split(/[\s,]+/).filter(Boolean);
        if (listed.length) action.allowed_hosts = listed; else delete action.allowed_hosts;
      } });
    parts.push(field('Allowed hosts', hosts, 'Where the code may send requests: https://api.example.com, https://*.example.org (comma-separated).'));
    return parts;
  }

  function inputRows(action, address) {
    const rows = pairs(action, 'inputs');
    return h('fieldset', {}, h('legend', {}, 'Inputs'),
      rows.length === 0 ? h('p', { class: 'muted' }, 'No inputs.') : null,
      rows.map((row, i) => h('div', { class: 'pair' },
        field('Input name', h('input', { type: 'text', value: row[0], class: 'mono',
          oninput: (e) => { row[0] = e.target.value; writePairs(action, 'inputs'); } })),
        picker('Input value', () => row[1], (s) => { row[1] = s; writePairs(action, 'inputs'); }, address),
        h('button', { type: 'button', class: 'danger', onclick: () => { rows.splice(i, 1); writePairs(action, 'inputs'); draw(); } }, 'Remove input'))),
      h('button', { type: 'button', onclick: () => { rows.push(['', undefined]); writePairs(action, 'inputs'); draw(); } }, 'Add input'));
  }

  function secretChoices(action) {
    const names = [...new Set([...context.secrets, ...(action.secrets || [])])];
    return h('fieldset', {}, h('legend', {}, 'Secrets'),
      names.length === 0 ? h('p', { class: 'muted' }, 'No secrets stored yet (PUT /api/v1/secrets/NAME).') : null,
      names.map((name) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', checked: (action.secrets || []).includes(name),
          onchange: (e) => {
            const chosen = new Set(action.secrets || []);
            if (e.target.checked) chosen.add(name); else chosen.delete(name);
            action.secrets = names.filter((n) => chosen.has(n));
          } }),
        ` ${name}`, context.secrets.includes(name) ? '' : ' (not set)')));
  }

  function outputRows(action, address, withPath) {
    action.outputs = action.outputs || [];
    const rows = action.outputs;
    return h('fieldset', {}, h('legend', {}, 'Outputs'),
      rows.length === 0 ? h('p', { class: 'muted' }, withPath ? 'Only status.' : 'No outputs.') : null,
      rows.map((o, i) => h('div', { class: 'pair' },
        field('Output name', h('input', { type: 'text', value: o.name, class: 'mono',
          oninput: (e) => { o.name = e.target.value; refreshSources(); } })),
        withPath ? field('Path in the answer', h('input', { type: 'text', value: o.path || '', class: 'mono', placeholder: 'data.id',
          oninput: (e) => { o.path = e.target.value; } })) : null,
        field('Output type', select(OUTPUT_TYPES, o.type, { onchange: (e) => { o.type = e.target.value; } })),
        h('button', { type: 'button', class: 'danger', onclick: () => { rows.splice(i, 1); draw(); } }, 'Remove output'))),
      h('button', { type: 'button', onclick: () => { rows.push(withPath ? { name: '', path: '', type: 'string' } : { name: '', type: 'string' }); draw(); } }, 'Add output'));
  }

  function setProperty(action, address) {
    const options = [{ value: '', label: 'Choose a property' },
      ...context.properties.map((p) => ({ value: p.name, label: `${p.label || p.name} (${p.type})` }))];
    if (action.property && !context.properties.some((p) => p.name === action.property)) options.push({ value: action.property, label: action.property });
    return [
      field('Property', select(options, action.property, { onchange: (e) => { action.property = e.target.value; } })),
      picker('Value', () => action.value, (s) => { action.value = s; }, address),
    ];
  }

  function branch(action, address) {
    const condition = action.if;
    const value = h('input', { type: 'text', value: literalText(condition.value ?? ''), hidden: condition.op === 'is_empty',
      oninput: (e) => { condition.value = literal(e.target.value); } });
    const compared = field('Compared with', value, 'Numbers, true, false and null are typed; other text is text.');
    compared.hidden = condition.op === 'is_empty';
    return [
      h('div', { class: 'condition' },
        picker('If', () => condition.source, (s) => { condition.source = s; }, address),
        field('Test', select(OPS, condition.op, { onchange: (e) => {
          condition.op = e.target.value;
          compared.hidden = value.hidden = condition.op === 'is_empty';
        } })),
        compared),
      ['then', 'else'].map((side) => h('div', { class: 'side' },
        h('h4', {}, side === 'then' ? 'Then' : 'Else'),
        actionCards(action[side] = action[side] || [], `${address}.${side}`))),
    ];
  }

  /** A delay: a length (hours and minutes), or until a point in time with an offset. */
  function delay(action, address) {
    const mode = select([{ value: 'for', label: 'For a time' }, { value: 'until', label: 'Until a date' }],
      action.until !== undefined ? 'until' : 'for', { onchange: (e) => {
        if (e.target.value === 'until') { delete action.for_s; action.until = undefined; action.offset_s = 0; }
        else { delete action.until; delete action.offset_s; action.for_s = 3600; }
        draw();
      } });
    if (action.until === undefined && action.for_s !== undefined) {
      return [field('Wait', mode), field('Seconds', h('input', { type: 'number', min: '1', step: '1', value: String(action.for_s),
        oninput: (e) => { action.for_s = Number(e.target.value); } }), 'Up to a year (31,622,400 s). 3600 is an hour, 86400 a day.')];
    }
    return [field('Wait', mode),
      picker('Until', () => action.until, (s) => { action.until = s; }, address),
      field('Offset (seconds)', h('input', { type: 'number', step: '1', value: String(action.offset_s ?? 0),
        oninput: (e) => { action.offset_s = Number(e.target.value); } }), 'Negative waits until before the date: -86400 is a day before.')];
  }

  function sendWebhook(action, address) {
    const headers = pairs(action, 'headers');
    const body = pairs(action, 'body');
    const signing = action.signing || { scheme: '' };
    const secretSelect = (current, onchange) => select([{ value: '', label: 'Choose a secret' },
      ...context.secrets.map((s) => ({ value: s, label: s }))], current, { onchange });
    return [
      h('div', { class: 'row' },
        field('Method', select(['POST', 'PUT', 'PATCH', 'DELETE'].map((m) => ({ value: m, label: m })), action.method || 'POST',
          { onchange: (e) => { action.method = e.target.value; } })),
        field('URL', h('input', { type: 'url', value: action.url, class: 'mono', oninput: (e) => { action.url = e.target.value; } }))),
      h('fieldset', {}, h('legend', {}, 'Headers'),
        headers.map((row, i) => {
          const kind = row[1] && 'secret' in row[1] ? 'secret' : 'value';
          return h('div', { class: 'pair' },
            field('Header name', h('input', { type: 'text', value: row[0], class: 'mono',
              oninput: (e) => { row[0] = e.target.value; writePairs(action, 'headers', true); } })),
            field('Header from', select([{ value: 'value', label: 'Text' }, { value: 'secret', label: 'A secret' }], kind,
              { onchange: (e) => { row[1] = { [e.target.value]: '' }; writePairs(action, 'headers', true); draw(); } })),
            kind === 'secret'
              ? field('Header secret', secretSelect(row[1].secret, (e) => { row[1] = { secret: e.target.value }; writePairs(action, 'headers', true); }))
              : field('Header text', h('input', { type: 'text', value: (row[1] && row[1].value) || '',
                oninput: (e) => { row[1] = { value: e.target.value }; writePairs(action, 'headers', true); } })),
            h('button', { type: 'button', class: 'danger', onclick: () => { headers.splice(i, 1); writePairs(action, 'headers', true); draw(); } }, 'Remove header'));
        }),
        h('button', { type: 'button', onclick: () => { headers.push(['', { value: '' }]); writePairs(action, 'headers', true); draw(); } }, 'Add header')),
      h('fieldset', {}, h('legend', {}, 'Body'),
        body.length === 0 ? h('p', { class: 'muted' }, 'Without fields, the body is {"record": {…}, "trigger": {…}}.') : null,
        body.map((row, i) => h('div', { class: 'pair' },
          field('Body field', h('input', { type: 'text', value: row[0], class: 'mono',
            oninput: (e) => { row[0] = e.target.value; writePairs(action, 'body', true); } })),
          picker('Body value', () => row[1], (s) => { row[1] = s; writePairs(action, 'body', true); }, address),
          h('button', { type: 'button', class: 'danger', onclick: () => { body.splice(i, 1); writePairs(action, 'body', true); draw(); } }, 'Remove field'))),
        h('button', { type: 'button', onclick: () => { body.push(['', undefined]); writePairs(action, 'body', true); draw(); } }, 'Add body field')),
      h('fieldset', {}, h('legend', {}, 'Signing'),
        field('Signature', select([{ value: '', label: 'Not signed' }, { value: 'standard-webhooks', label: 'Standard Webhooks' },
          { value: 'hmac-sha256', label: 'HMAC-SHA256 in a header' }], signing.scheme, { onchange: (e) => {
          if (!e.target.value) delete action.signing;
          else action.signing = e.target.value === 'hmac-sha256'
            ? { scheme: e.target.value, secret: signing.secret || '', header: signing.header || 'X-Signature' }
            : { scheme: e.target.value, secret: signing.secret || '' };
          draw();
        } })),
        action.signing ? field('Signing secret', secretSelect(action.signing.secret, (e) => { action.signing.secret = e.target.value; })) : null,
        action.signing && action.signing.scheme === 'hmac-sha256'
          ? field('Signature header', h('input', { type: 'text', value: action.signing.header, class: 'mono',
            oninput: (e) => { action.signing.header = e.target.value; } })) : null),
      outputRows(action, address, true),
    ];
  }

  // --- the test panel of a card --------------------------------------------------------

  function testPanel(address) {
    const unique = context.properties.filter((p) => p.unique);
    const by = select(unique.map((p) => ({ value: p.name, label: p.label || p.name })), unique.length ? unique[0].name : '');
    const value = h('input', { type: 'text', autocomplete: 'off' });
    const trigger = h('textarea', { class: 'code', rows: 3, spellcheck: 'false', value: '{}' });
    const result = h('div', { 'aria-live': 'polite', class: 'test-result' });
    const run = async () => {
      fill(result, h('p', { class: 'muted', role: 'status' }, 'Running…'));
      try {
        if (!id) throw new Error('Save the workflow once before testing its steps.');
        let data;
        try { data = JSON.parse(trigger.value || '{}'); } catch (e) { throw new Error(`Trigger data is not JSON: ${e.message}`); }
        const found = await api('GET', `/objects/${encodeURIComponent(draft.object)}/records?${encodeURIComponent(by.value)}=${encodeURIComponent(value.value)}`);
        if (!found.records.length) throw new Error(`No record has ${by.value} = ${value.value}.`);
        const tried = await api('POST', `/workflows/${id}/actions/${address}/test`, { record_id: found.records[0].id, trigger: data, actions: draft.actions });
        fill(result, testResult(tried));
      } catch (error) {
        fill(result, errorBox(error));
        if (error.field) showError(error.field, error.message);
      }
    };
    return h('details', { class: 'test' },
      h('summary', {}, `Test step ${stepNumber(address)}`),
      h('div', { class: 'row' },
        unique.length ? field('Record found by', by) : h('p', { class: 'notice' }, 'The object has no unique property to find a record by.'),
        field('Record value', value)),
      field('Trigger data (JSON)', trigger, 'The trigger\'s properties the step reads, e.g. {"amount": 120}.'),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: run }, 'Run test')),
      result);
  }

  function testResult({ step, write }) {
    const outputs = Object.entries(step.outputs || {});
    return h('div', {},
      h('p', {}, badge(step.outcome), ` in ${Number(step.duration_ms).toFixed(2)} ms`, step.sha256 ? ` · version ${step.sha256.slice(0, 12)}` : ''),
      step.reason ? errorBox(step.reason) : null,
      outputs.length ? h('table', { class: 'outputs' }, h('caption', {}, 'Outputs'),
        h('tbody', {}, outputs.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'mono' }, JSON.stringify(v)))))) : null,
      write ? h('p', {}, `Would set ${write.property} to ${JSON.stringify(write.value)}.`) : null,
      step.type === 'branch' ? h('p', {}, `Takes the ${step.branch} side (value ${JSON.stringify(step.value)}).`) : null,
      step.type === 'delay' && step.until ? h('p', {}, `Would wait until ${step.until}.`) : null,
      (step.requests || []).length ? h('table', { class: 'requests' }, h('caption', {}, 'Requests'),
        h('tbody', {}, step.requests.map((r) => h('tr', {}, h('td', { class: 'mono' }, r.request), h('td', {}, r.answer),
          h('td', {}, `${r.duration_ms.toFixed(1)} ms`))))) : null,
      step.type === 'send_webhook' && step.request ? h('p', { class: 'mono' }, `${step.request} → ${step.status ?? 'no answer'}`) : null,
      step.log ? h('div', {}, h('h4', {}, 'Log'), h('pre', { class: 'log' }, step.log)) : null);
  }

  // --- the list of cards -----------------------------------------------------------------

  function actionCards(actions, prefix) {
    const kind = select(KINDS, 'custom_code', { 'aria-label': `Kind of step to add${prefix ? ` (${prefix})` : ''}` });
    return h('div', { class: 'action-cards' },
      actions.map((action, i) => {
        const address = addressOf(prefix, i);
        const error = h('div', { 'aria-live': 'polite' });
        slots.set(fieldOf(address), { error });
        const body = action.type === 'custom_code' ? customCode(action, address)
          : action.type === 'set_property' ? setProperty(action, address)
            : action.type === 'branch' ? branch(action, address)
              : action.type === 'delay' ? delay(action, address) : sendWebhook(action, address);
        const move = (to) => { actions.splice(to, 0, actions.splice(i, 1)[0]); draw(); };
        return h('section', { class: 'card step', 'data-address': address,
          'aria-label': `Step ${stepNumber(address)}: ${kindName(action.type)}` },
        h('h3', {}, `${stepNumber(address)}. ${kindName(action.type)}`),
        error, body,
        action.type === 'branch' ? null : testPanel(address),
        h('div', { class: 'actions' },
          h('button', { type: 'button', disabled: i === 0, onclick: () => move(i - 1) }, 'Move up'),
          h('button', { type: 'button', disabled: i === actions.length - 1, onclick: () => move(i + 1) }, 'Move down'),
          h('button', { type: 'button', class: 'danger', onclick: () => { actions.splice(i, 1); draw(); } }, 'Remove step')));
      }),
      h('div', { class: 'row add' }, kind,
        h('button', { type: 'button', onclick: () => { actions.push(blank(kind.value)); draw(); } }, 'Add step')));
  }

  function draw() {
    pickers = [];
    slots = new Map();
    fill(list, actionCards(draft.actions, ''));
  }

  /** Show a refusal on the card its field names (the deepest), a syntax error at its line. */
  function showError(fieldName, text) {
    const owner = [...slots.keys()].filter((k) => fieldName === k || fieldName.startsWith(`${k}.`) || fieldName.startsWith(`${k}[`))
      .sort((a, b) => b.length - a.length)[0];
    if (!owner) return;
    const slot = slots.get(owner);
    if (slot.code && fieldName === `${owner}.source`) {
      slot.code.showError(text);
      slot.code.element.scrollIntoView({ block: 'center' });
    } else {
      fill(slot.error, errorBox({ message: text, field: fieldName }));
      slot.error.scrollIntoView({ block: 'center' });
    }
  }

  // One save at a time: a second click while the first is checked would create the
  // workflow twice. Code written in steps is compiled to check it, and the first check
  // after the server starts also compiles the language's runtime (seconds), so the
  // admin is told what the wait is.
  const saveButton = h('button', { type: 'button', class: 'primary', onclick: save }, 'Save workflow');
  async function save() {
    if (saveButton.disabled) return;
    for (const slot of slots.values()) { fill(slot.error); if (slot.code) slot.code.showError(null); }
    const writesCode = (actions) => (actions || []).some((a) =>
      (a.type === 'custom_code' && typeof a.source === 'string') || writesCode(a.then) || writesCode(a.else));
    const checksCode = writesCode(draft.actions);
    fill(message, h('p', { class: 'muted saving', role: 'status' },
      checksCode ? 'Saving: checking the code written in steps…' : 'Saving…'));
    saveButton.disabled = true;
    saveButton.setAttribute('aria-busy', 'true');
    try {
      const body = { name: draft.name, enabled: draft.enabled, reenroll: draft.reenroll, triggers: draft.triggers, actions: draft.actions };
      const saved = id ? await api('PATCH', `/workflows/${id}`, body) : await api('POST', '/workflows', { ...body, object: draft.object });
      go(`#/workflows/${saved.id}`);
    } catch (error) {
      fill(message, errorBox(error));
      if (error.field) showError(error.field, error.message);
    } finally {
      saveButton.disabled = false;
      saveButton.removeAttribute('aria-busy');
    }
  }

  // --- settings --------------------------------------------------------------------------

  const objectSelect = select(objects.map((o) => ({ value: o.name, label: o.label || o.name })), draft.object, {
    disabled: Boolean(id),
    onchange: async (e) => { draft.object = e.target.value; await loadProperties(); draw(); },
  });
  const triggers = h('fieldset', {}, h('legend', {}, 'Triggered by'),
    webhooks.length === 0 ? h('p', { class: 'muted' }, 'No webhooks yet.') : null,
    webhooks.map((w) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', checked: draft.triggers.includes(w.id), onchange: async (e) => {
        draft.triggers = e.target.checked ? [...draft.triggers, w.id] : draft.triggers.filter((t) => t !== w.id);
        // A new workflow's first trigger brings its records' object along.
        if (!id && e.target.checked && w.match && draft.triggers.length === 1 && draft.object !== w.match.object) {
          draft.object = objectSelect.value = w.match.object;
          await loadProperties();
          draw();
        } else {
          refreshSources();
        }
      } }), ` ${w.name}`)));
  await loadProperties();
  draw();
  return h('div', { class: 'editor' },
    h('h1', {}, existing ? `Edit ${existing.name}` : 'New workflow'),
    field('Workflow name', h('input', { type: 'text', value: draft.name, maxlength: 255, oninput: (e) => { draft.name = e.target.value; } })),
    field('Object', objectSelect, id ? 'A workflow\'s object cannot change.' : 'The records it enrolls.'),
    triggers,
    h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: draft.enabled, onchange: (e) => { draft.enabled = e.target.checked; } }), ' Enabled'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: draft.reenroll, onchange: (e) => { draft.reenroll = e.target.checked; } }), ' Records may enroll again after they finish'),
    h('h2', {}, 'Steps'),
    list,
    h('div', { class: 'actions' },
      saveButton,
      h('a', { class: 'button', href: id ? `#/workflows/${id}` : '#/workflows' }, 'Cancel')),
    message);
}
