//! Any text as a config: validation reports problems, never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = apiconn_guest::config::load(text, None);
        let _ = apiconn_guest::config::load(text, Some("dev"));
    }
});
