//! printcore errors as JS `Error`s with a stable `code` (INVALID_ARGUMENT, NOT_FOUND, INVALID_TRANSITION,
//! OWNERSHIP_LOST, CONFLICT, DATABASE, ...) and `transient` (whether trying again later may succeed).

use napi::bindgen_prelude::*;
use std::future::Future;

/// Builds the JS error for a printcore error.
pub(crate) fn js_error(env: &Env, e: &printcore::Error) -> napi::Error {
    let message = e.to_string();
    match env.create_error(napi::Error::new(Status::GenericFailure, message.clone())) {
        Ok(mut obj) => {
            let _ = obj.set_named_property("code", e.code());
            let _ = obj.set_named_property("transient", e.is_transient());
            napi::Error::from(obj.to_unknown())
        }
        Err(_) => napi::Error::new(Status::GenericFailure, format!("[{}] {message}", e.code())),
    }
}

/// Runs a printcore future on napi's runtime as a Promise; a printcore error rejects it with a coded
/// JS error, and `to_js` converts the value on the JS thread.
pub(crate) fn promise<'env, T, V, F, C>(env: &'env Env, fut: F, to_js: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = printcore::Result<T>> + Send + 'static,
    C: FnOnce(T) -> Result<V> + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, r| match r {
        Ok(v) => to_js(v),
        Err(e) => Err(js_error(env, &e)),
    })
}
