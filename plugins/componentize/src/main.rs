//! `componentize <core.wasm> <out.component.wasm>`: wraps a core wasm module
//! built by `wit-bindgen` (which embeds the component type in a custom
//! section) into a WebAssembly component, validating the result. Used by
//! `plugins/build.sh`; deterministic, so the same input gives the same bytes.

use anyhow::{bail, Context, Result};
use wit_component::ComponentEncoder;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        bail!("usage: componentize <core.wasm> <out.component.wasm>");
    };
    let core = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&core)
        .with_context(|| {
            format!("{input}: no usable component type (was it built with wit-bindgen?)")
        })?
        .encode()
        .with_context(|| format!("componentizing {input}"))?;
    std::fs::write(output, component).with_context(|| format!("writing {output}"))?;
    Ok(())
}
