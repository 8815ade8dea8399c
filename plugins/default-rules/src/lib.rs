//! The rules of Warden's default plugins, written once.
//!
//! `plugins/seat-billing` and `plugins/domain-autojoin` build from this
//! crate for wasm32, and the host's built-in hooks (which serve a hook when
//! no plugin declares it) build from it natively, so removing a default
//! plugin changes nothing but the answer's `plugin` name. Plain data in,
//! plain data out: no WIT types, no host types, no allocation beyond the
//! reason strings.

#![no_std]

extern crate alloc;

mod autojoin;
mod seat_charge;

pub use autojoin::{autojoin, Candidate, Joining};
pub use seat_charge::{seat_charge, Charge, Seat};
