//! The built-in strtotime component, run through the engine, agrees with PHP on the
//! committed fixture as well as the native parser does (no wasm-only divergence).

use wasmhook::plugins::{CallContext, Limits, PluginEngine, PluginFailure, World, builtin};
use wasmhook::value::{Property, Value};

#[test]
fn component_agrees_with_php_and_with_the_native_parser() {
    let engine = PluginEngine::new().unwrap();
    let plugin = engine.load(builtin::find("strtotime").unwrap().bytes, World::Transform, &Limits::default()).unwrap();
    let config = vec![("from".to_string(), "d".to_string())];
    let fixture = include_str!("fixtures/strtotime/php-fixture.jsonl");
    let (mut total, mut agree) = (0, 0);
    for line in fixture.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let input = case["input"].as_str().unwrap();
        let now = case["now"].as_i64().unwrap();
        let call = CallContext { event_id: "fixture".into(), webhook_id: "fixture".into(), received_at_ms: now * 1000 };
        let props = [Property::new("d", Value::String(input.to_string()))];
        let wasm = match engine.transform(&plugin, &call, &config, &props, &Limits::default()).result {
            Ok(out) => match out.iter().find(|p| p.name == "d_unix").map(|p| &p.value) {
                Some(Value::Number(n)) => Some(*n as i64),
                other => panic!("{input:?}: no d_unix in output: {other:?}"),
            },
            Err(PluginFailure::GuestError { code, message }) => {
                assert_eq!(code, "unparseable");
                assert!(message.contains(&format!("{input:?}")), "the reason quotes the value: {message}");
                None
            }
            Err(other) => panic!("{input:?}: unexpected failure {other}"),
        };
        let native = strtotime::strtotime(input, now, strtotime::ParsedZone::Offset(0)).ok();
        // Unix seconds beyond ±2^53 cannot travel as an f64 value exactly; compare the rest.
        if native.is_some_and(|n| n.abs() < (1 << 53)) || native.is_none() {
            assert_eq!(wasm, native, "{input:?}: component and native parser disagree");
        }
        total += 1;
        if wasm == case["expected"].as_i64() {
            agree += 1;
        }
    }
    let ratio = f64::from(agree) / f64::from(total);
    println!("component agreement with PHP: {agree}/{total} = {:.2}%", ratio * 100.0);
    assert!(ratio >= 0.98, "agreement {agree}/{total}");
}
