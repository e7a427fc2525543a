//! BSON values as plain JS values, for fields whose shape printcore does not fix (a log entry's
//! `metadata`): documents become objects, arrays arrays, dates `Date`s, ObjectIds hex strings, numbers
//! numbers, so a website reads dates the same way everywhere.

use napi::bindgen_prelude::*;
use napi::sys;
use std::ptr;

/// A BSON value crossing to JS (read-only: never taken from JS).
pub struct JsValue(pub bson::Bson);

impl TypeName for JsValue {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl FromNapiValue for JsValue {
    unsafe fn from_napi_value(_env: sys::napi_env, _value: sys::napi_value) -> Result<Self> {
        Err(Error::new(Status::InvalidArg, "this value is only ever returned to JavaScript".to_owned()))
    }
}

impl ToNapiValue for JsValue {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        use bson::Bson;
        let mut out = ptr::null_mut();
        match val.0 {
            Bson::Document(d) => {
                check_status!(sys::napi_create_object(env, &mut out))?;
                for (k, v) in d {
                    let key = String::to_napi_value(env, k)?;
                    let value = JsValue::to_napi_value(env, JsValue(v))?;
                    check_status!(sys::napi_set_property(env, out, key, value))?;
                }
                Ok(out)
            }
            Bson::Array(items) => {
                check_status!(sys::napi_create_array_with_length(env, items.len(), &mut out))?;
                for (i, v) in items.into_iter().enumerate() {
                    let value = JsValue::to_napi_value(env, JsValue(v))?;
                    check_status!(sys::napi_set_element(env, out, i as u32, value))?;
                }
                Ok(out)
            }
            Bson::DateTime(d) => {
                check_status!(sys::napi_create_date(env, d.timestamp_millis() as f64, &mut out))?;
                Ok(out)
            }
            Bson::String(s) => String::to_napi_value(env, s),
            Bson::Boolean(b) => bool::to_napi_value(env, b),
            Bson::Int32(i) => i32::to_napi_value(env, i),
            Bson::Int64(i) => f64::to_napi_value(env, i as f64),
            Bson::Double(f) => f64::to_napi_value(env, f),
            Bson::ObjectId(id) => String::to_napi_value(env, id.to_hex()),
            Bson::Null | Bson::Undefined => {
                check_status!(sys::napi_get_null(env, &mut out))?;
                Ok(out)
            }
            Bson::Decimal128(d) => String::to_napi_value(env, d.to_string()),
            other => serde_json::Value::to_napi_value(env, other.into_relaxed_extjson()),
        }
    }
}
