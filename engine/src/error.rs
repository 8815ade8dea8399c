//! The one error type of Warden's library, at the bottom of its layers:
//! every variant has a stable machine-readable code and says whose fault it
//! is, so a front end maps it without guessing (the HTTP status of each is
//! `http::status`) and a client input never turns into a 5xx by accident.

pub mod plugin;

pub use plugin::PluginError;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is malformed or breaks a rule; `field` says where.
    #[error("{field}: {message}")]
    Invalid {
        /// Where the bad input is: a request field (`body.seat_limit`,
        /// `principal.id`) or a header (`X-Warden-Actor`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No valid bearer token.
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// The policies deny the action.
    #[error("{explanation}")]
    Forbidden {
        /// Why, readably: the deciding policies' `@reason`, or the rule of
        /// the command that refused.
        explanation: String,
        /// Ids of the forbid policies that decided; empty when no policy
        /// permitted the action, or a command's own rule refused it.
        policies: Vec<String>,
    },
    /// The record the request names does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// The kind of record, as a message names it (`workspace`,
        /// `credential`).
        what: &'static str,
        /// The id looked for, as the caller gave it.
        id: String,
    },
    /// The request conflicts with the current state (duplicate, last admin…).
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable code, e.g. `cascade_too_large`.
        code: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// The org's account cannot pay for the request (e.g. `insufficient_credits`).
    #[error("{message}")]
    PaymentRequired {
        /// Stable machine-readable code, e.g. `insufficient_credits`.
        code: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// The record existed but is no longer usable (an expired or revoked invitation).
    #[error("{message}")]
    Gone {
        /// Stable machine-readable code.
        code: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// The request body is not in a format the route reads (not JSON).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A configured limit was exceeded.
    #[error("{message}")]
    LimitExceeded {
        /// Stable machine-readable code.
        code: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// Too much of the same work is waiting already; retry later.
    #[error("{message}")]
    Busy {
        /// Stable machine-readable code.
        code: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// The request target is longer than `MAX_URI_BYTES`.
    #[error("{0}")]
    UriTooLong(String),
    /// The request's headers are more or longer than the server reads.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The server could not answer in time (`request_timeout`); retry.
    #[error("{message}")]
    Unavailable {
        /// Stable machine-readable code.
        code: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// Files (the policy directory, plugins) failed to (re)load; the
    /// previous ones keep serving. `problems` lists each as its loader
    /// reports it.
    #[error("{message}")]
    Rejected {
        /// Stable machine-readable code.
        code: &'static str,
        /// What was rejected, for a person.
        message: String,
        /// One JSON object per problem, as the loader reports it.
        problems: Vec<serde_json::Value>,
    },
    /// A plugin failed in a hook (trap, limit, invalid output…): the host
    /// failed closed and the caller gets what happened and the plugin's logs.
    #[error("{0}")]
    Plugin(Box<PluginError>),
    /// What a plugin decided on changed before the transaction; the write
    /// path asks the plugins again (callers see a `Conflict` if it persists).
    #[error("{0}")]
    Stale(String),
    /// The database says no; never caused by client input.
    #[error("storage error: {0}")]
    Storage(String),
    /// A bug or an environment failure; never caused by client input.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What Warden's library returns: an [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 400: `message` about the input at `field`.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 404: no `what` with `id`.
    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// A 409 with its `code`.
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 410 with its `code`: the record is no longer usable.
    pub(crate) fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Error::Gone {
            code,
            message: message.into(),
        }
    }

    /// A 403 that no policy decided (a rule of the command itself).
    pub(crate) fn forbidden(explanation: impl Into<String>) -> Self {
        Error::Forbidden {
            explanation: explanation.into(),
            policies: Vec::new(),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid_request",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { code, .. }
            | Error::PaymentRequired { code, .. }
            | Error::Gone { code, .. }
            | Error::LimitExceeded { code, .. }
            | Error::Busy { code, .. }
            | Error::Unavailable { code, .. }
            | Error::Rejected { code, .. } => code,
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Stale(_) => "concurrent_change",
            Error::UriTooLong(_) => "uri_too_long",
            Error::HeadersTooLarge(_) => "headers_too_large",
            Error::Plugin(e) if e.kind.is_unavailable() => "plugin_unavailable",
            Error::Plugin(_) => "plugin_failed",
            Error::Storage(_) => "storage_error",
            Error::Internal(_) => "internal_error",
        }
    }
}

impl From<PluginError> for Error {
    fn from(e: PluginError) -> Self {
        Error::Plugin(Box::new(e))
    }
}
