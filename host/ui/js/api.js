// The admin API, with the token the admin signed in with (kept for this tab only).

const KEY = 'wasmhook.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(value) {
  sessionStorage.setItem(KEY, value);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** An error answered by the API: {status, code, message, field}. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || 'http_error';
    this.field = error.field;
  }
}

/** Call `/api/v1{path}`; JSON in and out. `body` may be a Blob/ArrayBuffer (sent as is).
 * A 401 signs out (the page returns to sign-in) unless `checking` a token being tried. */
export async function api(method, path, body, { contentType, checking } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers['Content-Type'] = contentType || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, { error: { message: `the server cannot be reached (${e.message})` } });
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (response.status === 401 && !checking) {
    signOut();
    window.dispatchEvent(new Event('wasmhook:signed-out'));
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}
