// Record import: upload a CSV (or NDJSON) file into an object, map the CSV's columns to
// properties (by header name by default, as the server does), watch its progress, and read
// its report — rows created, updated and refused with their lines, columns left out.

import { api } from './api.js';
import { h, fill, errorBox, field, select } from './dom.js';

/** Bytes read to find a CSV's header row (a header longer than this is unusual). */
const HEAD_BYTES = 64 * 1024;

/** How often the page asks how far the import got. */
const POLL_MS = 300;

const isCsv = (file) => /\.csv$/i.test(file.name) || file.type === 'text/csv';

/** The first row of CSV text (RFC 4180 quoting), trimmed as the server reads it. */
export function headerRow(text) {
  const cells = [];
  let cell = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length && /[\r\n]/.test(text[i])) i++;
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { cells.push(cell.trim()); cell = ''; }
    else if (c === '\n') break;
    else cell += c;
  }
  cells.push(cell.trim());
  return cells;
}

/** The property a header names by name or label, ignoring case (the server's default). */
function byName(header, properties) {
  const wanted = header.trim().toLowerCase();
  return properties.find((p) => p.name.toLowerCase() === wanted)
    || properties.find((p) => p.label && p.label.trim().toLowerCase() === wanted);
}

export async function page({ query, onLeave }) {
  const { objects } = await api('GET', '/objects');
  const object = query.get('object') || 'contacts';
  const { properties } = await api('GET', `/objects/${encodeURIComponent(object)}/properties`);
  const objectSelect = select(objects.map((o) => ({ value: o.name, label: o.label })), object, { name: 'object' });
  objectSelect.addEventListener('change', () => { location.hash = `#/records/import?object=${encodeURIComponent(objectSelect.value)}`; });
  const fileInput = h('input', { type: 'file', name: 'file', accept: '.csv,.ndjson,.jsonl,text/csv,application/x-ndjson', required: true });
  const mapping = h('div', { id: 'import-mapping' });
  const message = h('div', { 'aria-live': 'polite', id: 'import-result' });
  let columns = [];
  let timer = null;
  onLeave(() => clearTimeout(timer));

  fileInput.addEventListener('change', async () => {
    fill(message);
    columns = [];
    const file = fileInput.files[0];
    if (!file || !isCsv(file)) {
      fill(mapping, file ? h('p', { class: 'muted' }, 'NDJSON: each line is one JSON object of properties.') : null);
      return;
    }
    const headers = headerRow(await file.slice(0, HEAD_BYTES).text());
    const options = [{ value: '', label: '(leave out)' }, ...properties.map((p) => ({ value: p.name, label: `${p.label} (${p.type})` }))];
    columns = headers.map((header, i) => ({
      header,
      control: select(options, byName(header, properties)?.name ?? '', { name: `map.${header}`, id: `import-column-${i}` }),
    }));
    fill(mapping,
      h('h2', {}, 'Columns'),
      h('p', { class: 'muted' }, 'Each column fills the property of its name unless you choose another; columns left out are not imported.'),
      h('div', { class: 'table-wrap' }, h('table', { id: 'import-columns' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Column'), h('th', { scope: 'col' }, 'Property'))),
        h('tbody', {}, columns.map((c) => h('tr', {},
          h('th', { scope: 'row' }, h('label', { for: c.control.id }, c.header)),
          h('td', {}, c.control)))))));
  });

  const watch = async (id) => {
    const progress = h('progress', { max: '1', value: '0', 'aria-label': 'Import progress' });
    const counts = h('p', { role: 'status' });
    fill(message, progress, counts);
    for (;;) {
      const run = await api('GET', `/imports/${encodeURIComponent(id)}`);
      progress.value = run.progress;
      counts.textContent = `${run.lines_done} lines read: ${run.created} created, ${run.updated} updated, ${run.failed} refused`;
      if (run.state !== 'running') return report(run);
      await new Promise((resolve) => { timer = setTimeout(resolve, POLL_MS); });
    }
  };

  const report = (run) => {
    fill(message, reportOf(run));
    // The report lands below the form: bring it to the reader.
    message.scrollIntoView({ block: 'start' });
  };

  const reportOf = (run) => h('section', { id: 'import-report' },
    h('h2', {}, run.state === 'done' ? 'Imported' : 'The import stopped'),
    h('p', { class: run.failed === 0 && run.state === 'done' ? 'ok' : '', role: 'status' },
      `${run.created} created, ${run.updated} updated, ${run.failed} refused (${run.lines_done} lines, ${run.rows_per_second} rows/s).`),
    run.reason ? h('p', { class: 'error', role: 'alert' }, run.reason) : null,
    run.unmapped.length ? h('p', {}, `Left out: ${run.unmapped.join(', ')}.`) : null,
    run.errors.length === 0 ? null : h('div', { class: 'table-wrap' }, h('table', { id: 'import-errors' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Line'), h('th', { scope: 'col' }, 'Why it was refused'))),
      h('tbody', {}, run.errors.map((e) => h('tr', {}, h('td', {}, String(e.line)), h('td', {}, e.error)))))),
    h('p', {}, h('a', { href: `#/records?object=${encodeURIComponent(object)}` }, `See the ${object}`)));

  const submit = async (e) => {
    e.preventDefault();
    const file = fileInput.files[0];
    if (!file) return;
    const params = new URLSearchParams();
    if (isCsv(file)) {
      params.set('format', 'csv');
      for (const c of columns) {
        c.control.removeAttribute('aria-invalid');
        params.set(`map.${c.header}`, c.control.value);
      }
    }
    fill(message, h('p', { class: 'muted' }, 'Uploading…'));
    try {
      const contentType = isCsv(file) ? 'text/csv' : 'application/x-ndjson';
      const run = await api('POST', `/objects/${encodeURIComponent(object)}/records/import?${params}`, file, { contentType });
      await watch(run.id);
    } catch (error) {
      fill(message, errorBox(error));
      const bad = error.field && columns.find((c) => `map.${c.header}` === error.field);
      if (bad) {
        bad.control.setAttribute('aria-invalid', 'true');
        bad.control.focus();
      }
    }
  };

  return h('div', {},
    h('p', {}, h('a', { href: `#/records?object=${encodeURIComponent(object)}` }, '← Records')),
    h('h1', {}, 'Import records'),
    h('form', { id: 'import-form', onsubmit: submit },
      field('Object', objectSelect),
      field('File (.csv or .ndjson)', fileInput, 'CSV with a header row (UTF-8), or one JSON object per line. A row whose unique property matches a record updates it.'),
      mapping,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Import'))),
    message);
}
