# requests, as custom code uses it: get/post/put/patch/delete/head/request, params,
# headers, json= and data= bodies, Session with shared headers; Response with
# status_code, ok, reason, text, content, headers (any case), json(), raise_for_status().
# Every request goes through the host's HTTP client under the step's outbound rules.
import _wasmhook
import json as _json

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
            302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


class RequestException(IOError):
    def __init__(self, *args, response=None, request=None):
        super().__init__(*args)
        self.response = response
        self.request = request


class HTTPError(RequestException):
    pass


class ConnectionError(RequestException):
    pass


class Timeout(RequestException):
    pass


class JSONDecodeError(RequestException, ValueError):
    pass


class exceptions:
    RequestException = RequestException
    HTTPError = HTTPError
    ConnectionError = ConnectionError
    Timeout = Timeout
    JSONDecodeError = JSONDecodeError


class CaseInsensitiveDict(dict):
    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            self[k] = v

    def __setitem__(self, key, value):
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


class Response:
    def __init__(self, method, url, status, headers, text):
        self.status_code = status
        self.reason = _REASONS.get(status, "")
        self.headers = CaseInsensitiveDict((headers[i], headers[i + 1]) for i in range(0, len(headers) - 1, 2))
        self.text = text
        self.content = text.encode("utf-8")
        self.url = url
        self.request = method + " " + url.split("?")[0]

    @property
    def ok(self):
        return self.status_code < 400

    def json(self, **kwargs):
        try:
            return _json.loads(self.text)
        except ValueError as e:
            raise JSONDecodeError(str(e), response=self)

    def raise_for_status(self):
        if 400 <= self.status_code < 600:
            side = "Client" if self.status_code < 500 else "Server"
            raise HTTPError("%d %s Error: %s for url: %s" % (self.status_code, side, self.reason, self.url.split("?")[0]),
                            response=self)

    def __repr__(self):
        return "<Response [%d]>" % self.status_code


_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def _quote(text):
    return "".join(c if c in _SAFE else "".join("%%%02X" % b for b in c.encode("utf-8")) for c in str(text))


def _encode(pairs):
    if isinstance(pairs, str):
        return pairs
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out = []
    for k, v in items:
        for one in (v if isinstance(v, (list, tuple)) else [v]):
            if one is not None:
                out.append(_quote(k) + "=" + _quote(one))
    return "&".join(out)


def request(method, url, params=None, data=None, json=None, headers=None, timeout=None, auth=None, **kwargs):
    sent = CaseInsensitiveDict()
    names = {}
    for k, v in (headers or {}).items():
        sent[k] = str(v)
        names[k.lower()] = k
    body = None
    if json is not None:
        body = _json.dumps(json)
        if "content-type" not in sent:
            sent["content-type"] = "application/json"
            names["content-type"] = "Content-Type"
    elif data is not None:
        if isinstance(data, (dict, list, tuple)):
            body = _encode(data)
            if "content-type" not in sent:
                sent["content-type"] = "application/x-www-form-urlencoded"
                names["content-type"] = "Content-Type"
        else:
            body = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else str(data)
    if params:
        query = _encode(params)
        if query:
            url = url + ("&" if "?" in url else "?") + query
    flat = []
    for k, v in sent.items():
        flat.append(names.get(k, k))
        flat.append(v)
    try:
        status, answer_headers, text = _wasmhook.http(method.upper(), url, flat, body)
    except OSError as e:
        raise ConnectionError(str(e))
    return Response(method.upper(), url, status, answer_headers, text)


def get(url, params=None, **kwargs):
    return request("GET", url, params=params, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return request("POST", url, data=data, json=json, **kwargs)


def put(url, data=None, **kwargs):
    return request("PUT", url, data=data, **kwargs)


def patch(url, data=None, **kwargs):
    return request("PATCH", url, data=data, **kwargs)


def delete(url, **kwargs):
    return request("DELETE", url, **kwargs)


def head(url, **kwargs):
    return request("HEAD", url, **kwargs)


class Session:
    def __init__(self):
        self.headers = {}

    def request(self, method, url, headers=None, **kwargs):
        merged = dict(self.headers)
        merged.update(headers or {})
        return request(method, url, headers=merged, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def patch(self, url, **kwargs):
        return self.request("PATCH", url, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False
