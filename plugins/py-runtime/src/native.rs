//! `_wasmhook`: what the Python modules need from Rust: JSON parsing, and one HTTP request
//! through the host's `wasi:http` client (its rules apply: the step's `allowed_hosts`, no
//! private network, limits, the request log, retries after 429/5xx).

#[rustpython_vm::pymodule]
pub mod _wasmhook {
    use rustpython_vm::builtins::PyUtf8StrRef;
    use rustpython_vm::convert::{TryFromBorrowedObject, TryFromObject};
    use rustpython_vm::{PyObjectRef, PyResult, VirtualMachine};

    /// The most of an answer kept for the code.
    const KEEP: usize = 1024 * 1024;

    /// JSON text → Python values (`json.loads`).
    #[pyfunction]
    fn loads(text: PyUtf8StrRef, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        let value: serde_json::Value =
            serde_json::from_str(text.as_str()).map_err(|e| vm.new_value_error(e.to_string()))?;
        rustpython_vm::py_serde::deserialize(vm, value).map_err(|e| vm.new_value_error(e.to_string()))
    }

    /// `http(method, url, [name, value, …], body or None)` → `(status, [name, value, …],
    /// text)`; a request that got no answer (refused, unreachable, a bad URL) raises
    /// `OSError` saying why.
    #[pyfunction]
    fn http(
        method: PyUtf8StrRef,
        url: PyUtf8StrRef,
        headers: PyObjectRef,
        body: PyObjectRef,
        vm: &VirtualMachine,
    ) -> PyResult<PyObjectRef> {
        let mut request = wasmhook_http::Request::named(method.as_str(), url.as_str().to_string()).keep(KEEP);
        let headers = Vec::<PyUtf8StrRef>::try_from_borrowed_object(vm, &headers)?;
        for pair in headers.chunks(2) {
            if let [name, value] = pair {
                request = request.header(name.as_str(), value.as_str().to_string());
            }
        }
        if !vm.is_none(&body) {
            let body = PyUtf8StrRef::try_from_object(vm, body)?;
            request = request.body(body.as_str().as_bytes().to_vec());
        }
        let shown = url.as_str().split(['?', '#']).next().unwrap_or_default().to_string();
        let answer = request.send().map_err(|e| vm.new_os_error(format!("{} {shown} failed: {e}", method.as_str())))?;
        let text = answer.text();
        let flat: Vec<PyObjectRef> = answer
            .headers
            .iter()
            .flat_map(|(name, value)| [vm.ctx.new_str(name.as_str()).into(), vm.ctx.new_str(value.as_str()).into()])
            .collect();
        let answered =
            vec![vm.ctx.new_int(answer.status).into(), vm.ctx.new_list(flat).into(), vm.ctx.new_str(text).into()];
        Ok(vm.ctx.new_tuple(answered).into())
    }
}
