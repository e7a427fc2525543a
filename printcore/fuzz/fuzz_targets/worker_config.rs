//! Fuzzes the worker's configuration parsing and validation: whatever the text, a clear error or a valid
//! configuration, never a panic. Seeds: tests/corpus/config.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = printworker::config::Config::from_toml(text) {
            let _ = config.validate();
        }
    }
});
