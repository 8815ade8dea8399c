//! Tools for plugin authors, outside any server: `warden plugin new`
//! writes a standalone plugin crate anywhere ([`scaffold`]), and `warden
//! plugin build` builds a crate for wasm32 with whichever Rust toolchain
//! can ([`toolchain`]) and turns the core module into the component the
//! server loads ([`componentize()`]), all from the `warden` binary itself.

pub mod build;
pub mod componentize;
pub mod scaffold;
pub mod toolchain;

pub use build::{build, BuildOptions, Built};
pub use componentize::componentize;
pub use scaffold::{new_plugin, NewPlugin};
pub use toolchain::Toolchain;
