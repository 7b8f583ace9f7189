// What custom code written in the product sees besides the language itself, set up before
// the step's source runs. `__print` is the host's (stdout or stderr, into the step log).
var module = { exports: {} };
// Drawn from the host when called (`__random`), never from state kept in a snapshot.
Math.random = function random() { return __random(); };
var exports = module.exports;
var process = { env: {} };
var console = (function () {
  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack || (value.name + ': ' + value.message);
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return String(value);
    try {
      var text = JSON.stringify(value);
      return text === undefined ? String(value) : text;
    } catch (_) {
      return String(value);
    }
  }
  function printer(stream) {
    return function () {
      __print(stream, Array.prototype.map.call(arguments, show).join(' '));
    };
  }
  return { log: printer(1), info: printer(1), debug: printer(1), warn: printer(2), error: printer(2) };
})();
function require(name) {
  // `axios` is defined by http.js, which runs after this file.
  if (name === 'axios') return __axios;
  throw new Error("require('" + name + "'): the module is not available in wasmhook custom code");
}
