//! Warden: a policy engine for multi-tenant SaaS. See ARCHITECTURE.md at the
//! repository root for the map of these modules and the write path.

#![warn(missing_docs)]

pub mod app;
pub mod authz;
pub mod command;
pub mod config;
pub mod error;
pub mod fields;
pub mod http;
pub mod ledger;
pub mod plugin;
pub mod policy;
pub mod secrets;
pub mod server;
pub mod store;
