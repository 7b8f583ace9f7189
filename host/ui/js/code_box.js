// A code box: a monospace textarea with a line-number gutter that scrolls with it, and
// an error pinned to its line (the line's number marked, the message under the box).

import { h, fill } from './dom.js';

/** `line L, column C: …` (how the runtime words a syntax error) → {line, column}. */
export function errorLine(message) {
  const found = /^line (\d+), column (\d+)/.exec(message || '');
  return found ? { line: Number(found[1]), column: Number(found[2]) } : null;
}

/** A code box editing `value`; `onInput(text)` on every edit. Returns
 * {element, textarea, showError(message|null)}. */
export function codeBox(labelText, value, onInput) {
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const textarea = h('textarea', {
    class: 'code', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off', rows: 14, value,
  });
  const error = h('div', { 'aria-live': 'polite' });
  let errorAt = null;

  function numbers() {
    const lines = textarea.value.split('\n').length;
    fill(gutter, Array.from({ length: lines }, (_, i) =>
      h('div', { class: i + 1 === errorAt ? 'bad-line' : null, 'data-line': i + 1 }, String(i + 1))));
    gutter.scrollTop = textarea.scrollTop;
  }

  textarea.addEventListener('input', () => { onInput(textarea.value); numbers(); });
  textarea.addEventListener('scroll', () => { gutter.scrollTop = textarea.scrollTop; });
  // Tab indents (two spaces) instead of leaving the box; Escape then Tab still leaves it.
  let escaped = false;
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { escaped = true; return; }
    if (e.key === 'Tab' && !e.shiftKey && !escaped) {
      e.preventDefault();
      textarea.setRangeText('  ', textarea.selectionStart, textarea.selectionEnd, 'end');
      onInput(textarea.value);
      numbers();
    }
    escaped = false;
  });

  const id = `code${Math.random().toString(36).slice(2, 8)}`;
  textarea.id = id;
  const element = h('div', {},
    h('label', { for: id }, labelText),
    h('div', { class: 'code-box' }, gutter, textarea),
    error);

  /** Show `message` at its line (or clear it with null). */
  function showError(message) {
    const at = message ? errorLine(message) : null;
    errorAt = at ? at.line : null;
    textarea.setAttribute('aria-invalid', message ? 'true' : 'false');
    fill(error, message ? h('p', { class: 'error', role: 'alert', 'data-line': errorAt ?? '' },
      at ? `Line ${at.line}, column ${at.column}: ${message.replace(/^line \d+, column \d+[^:]*:\s*/, '')}` : message) : null);
    numbers();
    if (at) {
      // Bring the line into view and put the caret at it.
      const lines = textarea.value.split('\n');
      const offset = lines.slice(0, at.line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, at.column - 1);
      textarea.setSelectionRange(offset, offset);
      const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
      textarea.scrollTop = Math.max(0, (at.line - 3) * lineHeight);
    }
  }

  numbers();
  return { element, textarea, showError };
}
