// `fetch` (with Headers and Response) and a small `axios`, over the host's HTTP client:
// `__http(method, url, [[name, value], ...], body)` sends one request and returns
// `{status, headers, body, truncated}`, or throws a TypeError when nothing came back.
// Requests run one at a time, in the order the code makes them.
var Headers = (function () {
  function Headers(init) {
    this._map = Object.create(null);
    if (init === undefined || init === null) return;
    var self = this;
    if (init instanceof Headers) {
      init.forEach(function (value, name) { self.append(name, value); });
    } else if (Array.isArray(init)) {
      init.forEach(function (pair) { self.append(pair[0], pair[1]); });
    } else {
      Object.keys(init).forEach(function (name) {
        if (init[name] !== undefined && init[name] !== null) self.append(name, init[name]);
      });
    }
  }
  Headers.prototype.append = function (name, value) {
    var key = String(name).toLowerCase();
    this._map[key] = key in this._map ? this._map[key] + ', ' + String(value) : String(value);
  };
  Headers.prototype.set = function (name, value) { this._map[String(name).toLowerCase()] = String(value); };
  Headers.prototype.get = function (name) {
    var key = String(name).toLowerCase();
    return key in this._map ? this._map[key] : null;
  };
  Headers.prototype.has = function (name) { return String(name).toLowerCase() in this._map; };
  Headers.prototype['delete'] = function (name) { delete this._map[String(name).toLowerCase()]; };
  Headers.prototype._pairs = function () {
    var map = this._map;
    return Object.keys(map).sort().map(function (name) { return [name, map[name]]; });
  };
  Headers.prototype.forEach = function (fn, thisArg) {
    var self = this;
    this._pairs().forEach(function (pair) { fn.call(thisArg, pair[1], pair[0], self); });
  };
  Headers.prototype.entries = function () { return this._pairs()[Symbol.iterator](); };
  Headers.prototype.keys = function () { return this._pairs().map(function (p) { return p[0]; })[Symbol.iterator](); };
  Headers.prototype.values = function () { return this._pairs().map(function (p) { return p[1]; })[Symbol.iterator](); };
  Headers.prototype[Symbol.iterator] = Headers.prototype.entries;
  return Headers;
})();

var __STATUS_TEXT = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found',
  304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
};

var Response = (function () {
  function Response(answer, url) {
    this.status = answer.status;
    this.statusText = __STATUS_TEXT[answer.status] || '';
    this.ok = answer.status >= 200 && answer.status < 300;
    this.headers = new Headers(answer.headers);
    this.url = url;
    this.redirected = false;
    this.bodyUsed = false;
    this._body = answer.body;
    this._truncated = answer.truncated;
  }
  Response.prototype._read = function () {
    if (this.bodyUsed) throw new TypeError('the body of ' + this.url + ' has already been read');
    this.bodyUsed = true;
    if (this._truncated) throw new Error('the answer of ' + this.url + ' is longer than the 1 MiB custom code may read');
    return this._body;
  };
  Response.prototype.text = function () {
    var self = this;
    return new Promise(function (resolve) { resolve(self._read()); });
  };
  Response.prototype.json = function () {
    var self = this;
    return new Promise(function (resolve) { resolve(JSON.parse(self._read())); });
  };
  return Response;
})();

// A request body as text, and the content type it implies when the code gave none.
function __body(data) {
  if (data === undefined || data === null) return [undefined, undefined];
  if (typeof data === 'string') return [data, 'text/plain;charset=UTF-8'];
  return [JSON.stringify(data), 'application/json'];
}

function fetch(input, init) {
  return new Promise(function (resolve) {
    init = init || {};
    var url = typeof input === 'string' ? input : String((input && input.url) || input);
    var method = String(init.method || 'GET').toUpperCase();
    var headers = new Headers(init.headers);
    var body = __body(init.body);
    if (body[0] !== undefined && !headers.has('content-type')) headers.set('content-type', body[1]);
    resolve(new Response(__http(method, url, headers._pairs(), body[0]), url));
  });
}

var __axios = (function () {
  function AxiosError(message, code, config, response) {
    var error = new Error(message);
    Object.setPrototypeOf(error, AxiosError.prototype);
    error.name = 'AxiosError';
    error.code = code;
    error.config = config;
    error.response = response;
    error.status = response ? response.status : undefined;
    error.isAxiosError = true;
    return error;
  }
  AxiosError.prototype = Object.create(Error.prototype);
  AxiosError.prototype.constructor = AxiosError;
  AxiosError.prototype.toJSON = function () {
    return { name: this.name, message: this.message, code: this.code, status: this.status };
  };

  function url(config) {
    var target = String(config.url || '');
    if (config.baseURL && !/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
      target = String(config.baseURL).replace(/\/+$/, '') + '/' + target.replace(/^\/+/, '');
    }
    var params = config.params;
    if (params) {
      var query = Object.keys(params).filter(function (k) {
        return params[k] !== undefined && params[k] !== null;
      }).map(function (k) {
        return encodeURIComponent(k) + '=' + encodeURIComponent(String(params[k]));
      }).join('&');
      if (query) target += (target.indexOf('?') < 0 ? '?' : '&') + query;
    }
    return target;
  }

  function parsed(text, config) {
    if (config.responseType === 'text' || text === '') return text;
    try { return JSON.parse(text); } catch (_) { return text; }
  }

  function request(defaults, config) {
    return new Promise(function (resolve, reject) {
      config = Object.assign({}, defaults, config);
      config.headers = Object.assign({}, defaults.headers, config.headers);
      var method = String(config.method || 'get').toUpperCase();
      var headers = new Headers(config.headers);
      if (!headers.has('accept')) headers.set('accept', 'application/json, text/plain, */*');
      var body = __body(config.data);
      if (body[0] !== undefined && !headers.has('content-type')) {
        headers.set('content-type', typeof config.data === 'string' ? 'application/x-www-form-urlencoded' : body[1]);
      }
      var answer;
      try {
        answer = __http(method, url(config), headers._pairs(), body[0]);
      } catch (e) {
        reject(AxiosError(e.message, 'ERR_NETWORK', config, undefined));
        return;
      }
      var responseHeaders = {};
      new Headers(answer.headers).forEach(function (value, name) { responseHeaders[name] = value; });
      var response = {
        status: answer.status,
        statusText: __STATUS_TEXT[answer.status] || '',
        headers: responseHeaders,
        data: parsed(answer.body, config),
        config: config,
        request: {}
      };
      var valid = config.validateStatus === null ? true
        : typeof config.validateStatus === 'function' ? config.validateStatus(answer.status)
        : answer.status >= 200 && answer.status < 300;
      if (valid) {
        resolve(response);
      } else {
        var code = answer.status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST';
        reject(AxiosError('Request failed with status code ' + answer.status, code, config, response));
      }
    });
  }

  function create(defaults) {
    var instance = function (target, config) {
      return typeof target === 'string'
        ? request(instance.defaults, Object.assign({}, config, { url: target }))
        : request(instance.defaults, target);
    };
    instance.defaults = Object.assign({}, defaults, { headers: Object.assign({}, defaults.headers) });
    instance.request = function (config) { return request(instance.defaults, config); };
    ['get', 'delete', 'head', 'options'].forEach(function (method) {
      instance[method] = function (target, config) {
        return request(instance.defaults, Object.assign({}, config, { method: method, url: target }));
      };
    });
    ['post', 'put', 'patch'].forEach(function (method) {
      instance[method] = function (target, data, config) {
        return request(instance.defaults, Object.assign({}, config, { method: method, url: target, data: data }));
      };
    });
    instance.create = function (more) {
      more = more || {};
      var merged = Object.assign({}, instance.defaults, more);
      merged.headers = Object.assign({}, instance.defaults.headers, more.headers);
      return create(merged);
    };
    instance.isAxiosError = function (value) { return !!(value && value.isAxiosError); };
    instance.AxiosError = AxiosError;
    instance['default'] = instance;
    return instance;
  }

  return create({});
})();
