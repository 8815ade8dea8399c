//! The hooks' names: the points where a plugin decides, each named like
//! its WIT interface.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A point where a plugin decides; named like its WIT interface.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// Whether a user who signs up joins an org that verified their email's
    /// domain, and how.
    Autojoin,
    /// The charge for a member who takes a seat.
    SeatBilling,
    /// The credits a flow run costs.
    UsagePricing,
}

impl Hook {
    /// Every hook.
    pub const ALL: [Hook; 3] = [Hook::Autojoin, Hook::SeatBilling, Hook::UsagePricing];

    /// The hook's name, which is also its WIT interface's name.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Autojoin => "autojoin",
            Hook::SeatBilling => "seat-billing",
            Hook::UsagePricing => "usage-pricing",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Hook {
    type Err = String;

    fn from_str(s: &str) -> Result<Hook, String> {
        Hook::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Hook::ALL.iter().map(|h| h.name()).collect();
                format!("unknown hook {s:?}; the hooks are {}", known.join(", "))
            })
    }
}
