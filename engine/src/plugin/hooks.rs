//! The hooks: for each one the pieces the host combines on every call —
//! input validation, host guards, the built-in default and the typed export
//! of the component. Their names are `hook::Hook`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::abi::{Prepared, Returned};
use super::hook::Hook;
use super::sandbox::CallStore;
use super::types::{Charge, FlowRun, JoinDecision, Price, SeatEvent, Signup};
use super::{abi, defaults, guards};
use crate::error::Result;

/// Everything the host needs to serve one hook.
pub trait HookSpec {
    const HOOK: Hook;
    type Input: Serialize + DeserializeOwned;
    type Output: Serialize + DeserializeOwned;

    /// Refuses malformed input (a 4xx, never a plugin failure).
    fn validate(input: &Self::Input) -> Result<()>;
    /// The host's own answer for inputs no plugin may decide.
    fn precheck(input: &Self::Input) -> Option<Self::Output>;
    /// The built-in rule used when no plugin serves the hook.
    fn builtin(input: &Self::Input) -> Self::Output;
    /// The host guards every answer must pass.
    fn check(input: &Self::Input, output: &Self::Output) -> Result<(), String>;
    /// Instantiates the component and calls the hook's export; the error is
    /// the call failing (trap, fuel, deadline).
    fn invoke(
        pre: &Prepared,
        store: &mut CallStore,
        input: &Self::Input,
        config: &str,
    ) -> wasmtime::Result<Returned<Self::Output>>;
}

pub struct Autojoin;
pub struct SeatBilling;
pub struct UsagePricing;

impl HookSpec for Autojoin {
    const HOOK: Hook = Hook::Autojoin;
    type Input = Signup;
    type Output = JoinDecision;

    fn validate(input: &Signup) -> Result<()> {
        input.validate()
    }
    fn precheck(input: &Signup) -> Option<JoinDecision> {
        guards::autojoin_precheck(input)
    }
    fn builtin(input: &Signup) -> JoinDecision {
        defaults::autojoin(input)
    }
    fn check(input: &Signup, output: &JoinDecision) -> Result<(), String> {
        guards::check_join(input, output)
    }
    fn invoke(
        pre: &Prepared,
        store: &mut CallStore,
        input: &Signup,
        config: &str,
    ) -> wasmtime::Result<Returned<JoinDecision>> {
        abi::decide(pre, store, input, config)
    }
}

impl HookSpec for SeatBilling {
    const HOOK: Hook = Hook::SeatBilling;
    type Input = SeatEvent;
    type Output = Charge;

    fn validate(input: &SeatEvent) -> Result<()> {
        input.validate()
    }
    fn precheck(input: &SeatEvent) -> Option<Charge> {
        guards::seat_precheck(input)
    }
    fn builtin(input: &SeatEvent) -> Charge {
        defaults::seat_charge(input)
    }
    fn check(input: &SeatEvent, output: &Charge) -> Result<(), String> {
        guards::check_charge(input, output)
    }
    fn invoke(
        pre: &Prepared,
        store: &mut CallStore,
        input: &SeatEvent,
        config: &str,
    ) -> wasmtime::Result<Returned<Charge>> {
        abi::seat_charge(pre, store, input, config)
    }
}

impl HookSpec for UsagePricing {
    const HOOK: Hook = Hook::UsagePricing;
    type Input = FlowRun;
    type Output = Price;

    fn validate(input: &FlowRun) -> Result<()> {
        input.validate()
    }
    fn precheck(_: &FlowRun) -> Option<Price> {
        None
    }
    fn builtin(input: &FlowRun) -> Price {
        defaults::price_run(input)
    }
    fn check(input: &FlowRun, output: &Price) -> Result<(), String> {
        guards::check_price(input, output)
    }
    fn invoke(
        pre: &Prepared,
        store: &mut CallStore,
        input: &FlowRun,
        config: &str,
    ) -> wasmtime::Result<Returned<Price>> {
        abi::price_run(pre, store, input, config)
    }
}
