// Runs `exports.main(event, callback)` and records how it ended: the value given to the
// callback (first call wins), else the value the returned promise resolved to, or the error.
(function (event, env) {
  process.env = env;
  var out = { done: false, called: false, value: undefined, error: undefined, failed: false };
  var main = module.exports && module.exports.main;
  if (typeof main !== 'function') {
    out.done = true;
    out.failed = true;
    out.error = new TypeError('the code must set exports.main to a function: exports.main = async (event, callback) => { ... }');
    return out;
  }
  function callback(value) {
    if (!out.called) {
      out.called = true;
      out.value = value;
    }
  }
  function failed(error) {
    out.done = true;
    out.failed = true;
    out.error = error;
  }
  try {
    Promise.resolve(main(event, callback)).then(function (value) {
      out.done = true;
      if (!out.called) out.value = value;
    }, failed);
  } catch (error) {
    failed(error);
  }
  return out;
})
