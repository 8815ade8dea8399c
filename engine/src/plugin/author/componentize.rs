//! Core module → component: a guest built with `wit-bindgen` (through the
//! SDK) is a core wasm module whose component type sits in a custom
//! section; `wit-component` wraps it into the component the server loads.
//! Deterministic, so the same module always gives the same bytes (the
//! committed default plugins are checked against a fresh build).

use anyhow::Context;
use wit_component::ComponentEncoder;

/// The component of the core module `core`, validated.
pub fn componentize(core: &[u8]) -> anyhow::Result<Vec<u8>> {
    ComponentEncoder::default()
        .validate(true)
        .module(core)
        .context("no usable component type (was it built with wit-bindgen, e.g. through warden-plugin-sdk?)")?
        .encode()
        .context("cannot turn it into a component")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_a_core_module_are_refused() {
        let error = componentize(b"not wasm").unwrap_err();
        assert!(format!("{error:#}").contains("wit-bindgen"), "{error:#}");
    }
}
