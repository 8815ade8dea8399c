//! The core every front end (HTTP, CLI) drives: the store, the active
//! policies and plugins, and the checks that combine them.

pub mod access;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use uuid::Uuid;

use crate::authz::{self, CheckRequest, Decision, EntityCache, EntityRef, FromCache};
use crate::error::{Error, Result};
use crate::plugin::PluginHost;
use crate::policy::PolicyEngine;
use crate::policy::PolicySnapshot;
use crate::store::CheckRecords;
use crate::store::{SerialLock, Store, User, Workspace};

/// Who performs a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The holder of the admin token acting for itself: bootstrap and
    /// operations no user performs (creating orgs and users).
    System,
    /// A user named by the caller; Cedar decides what they may do.
    User(Uuid),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::User(id) => write!(f, "User::\"{id}\""),
        }
    }
}

impl Actor {
    /// The user acting, if it is not the system.
    pub fn user(self) -> Option<Uuid> {
        match self {
            Actor::User(user) => Some(user),
            Actor::System => None,
        }
    }
}

/// Lock stripes for commands that must not interleave with others of the
/// same key (see `Command::serial_key`); more stripes, fewer false waits.
const SERIAL_STRIPES: usize = 64;

/// Warden's state and rules, shared by every request.
pub struct App {
    /// The database.
    pub store: Store,
    /// The served policy set; reloads swap it under running checks.
    pub policies: Arc<PolicyEngine>,
    /// The plugins that serve the hooks (or their built-in rules).
    pub plugins: Arc<PluginHost>,
    serial: [Mutex<()>; SERIAL_STRIPES],
    entity_cache: EntityCache,
    /// The queue of batched commands (usage posts), see `Command::batched`.
    pub batches: crate::store::Batches,
}

/// A serial key held (see [`App::lock_serial`]); released on drop.
pub struct SerialGuard<'a> {
    // Fields drop in order: the database's lock before this server's.
    _elsewhere: Option<SerialLock>,
    _here: MutexGuard<'a, ()>,
}

impl App {
    /// The core over an opened store, policy set and plugin host.
    pub fn new(store: Store, policies: PolicyEngine, plugins: PluginHost) -> App {
        App {
            store,
            policies: Arc::new(policies),
            plugins: Arc::new(plugins),
            serial: std::array::from_fn(|_| Mutex::new(())),
            entity_cache: EntityCache::default(),
            batches: Default::default(),
        }
    }

    /// Waits until no other command with `key`'s stripe runs, here or on
    /// another server of a shared database, and holds it off while the
    /// guard lives.
    pub fn lock_serial(&self, key: &str) -> Result<SerialGuard<'_>> {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let stripe = (hasher.finish() % SERIAL_STRIPES as u64) as usize;
        // A panic while holding it cannot leave shared data half-written:
        // the lock guards no data.
        let here = self.serial[stripe]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Taken after this server's own lock: at most one command per
        // stripe and server waits for the database's.
        let elsewhere = self.store.lock_serial(key)?;
        Ok(SerialGuard {
            _elsewhere: elsewhere,
            _here: here,
        })
    }

    /// How the check entity cache has served so far.
    pub fn check_cache_stats(&self) -> authz::CacheStats {
        self.entity_cache.stats()
    }

    /// Answers one authorization question against the active policies.
    pub fn check(&self, request: &CheckRequest) -> Result<Decision> {
        self.check_against(&self.policies.current(), request, Instant::now())
    }

    /// Answers one authorization question, asked at `asked_at`, against
    /// `snapshot` (a batch answers all of its questions against one, as of
    /// its arrival).
    pub fn check_against(
        &self,
        snapshot: &PolicySnapshot,
        request: &CheckRequest,
        asked_at: Instant,
    ) -> Result<Decision> {
        let cache = FromCache {
            cache: &self.entity_cache,
            asked_at,
        };
        authz::authorize(&self.store, snapshot, request, Some(cache))
    }

    /// Reads a workspace that must exist.
    pub fn workspace(&self, id: Uuid) -> Result<Workspace> {
        self.store
            .workspace(id)?
            .ok_or_else(|| Error::not_found("workspace", id))
    }

    /// The acting user's record, none for the system; 400 naming
    /// `X-Warden-Actor` when no such user exists.
    pub fn acting_user(&self, actor: Actor) -> Result<Option<User>> {
        let Actor::User(id) = actor else {
            return Ok(None);
        };
        match self.store.user(id)? {
            Some(user) => Ok(Some(user)),
            None => Err(Error::invalid(
                "X-Warden-Actor",
                format!("no user with id {id}"),
            )),
        }
    }

    /// Fails with 403 (and the readable explanation) unless `actor` may
    /// perform `action` on `resource`. Returns the policy set that
    /// decided, for the audit record.
    pub fn require(
        &self,
        actor: Actor,
        action: &str,
        resource: EntityRef,
    ) -> Result<Arc<PolicySnapshot>> {
        let snapshot = self.policies.current();
        let Actor::User(user) = actor else {
            return Ok(snapshot);
        };
        self.acting_user(actor)?;
        let request = CheckRequest {
            principal: EntityRef::new("User", user),
            action: EntityRef::new("Action", action),
            resource,
            context: Default::default(),
            entities: Vec::new(),
        };
        let decision = self.check_against(&snapshot, &request, Instant::now())?;
        if decision.allowed() {
            Ok(snapshot)
        } else {
            Err(Error::Forbidden {
                explanation: decision.explanation,
                policies: decision.diagnostics.reason,
            })
        }
    }

    /// [`App::require`] for an action on the vendor's terms (`ManagePlan`,
    /// `ManageBilling`, `PriceUsage`): what an org pays and gets is set by
    /// the vendor, the system actor, and no default policy grants it to a
    /// tenant role. A denial says so, naming the `terms` asked for.
    pub fn require_vendor_term(
        &self,
        actor: Actor,
        action: &str,
        resource: EntityRef,
        terms: &str,
    ) -> Result<Arc<PolicySnapshot>> {
        self.require(actor, action, resource)
            .map_err(|error| match error {
                Error::Forbidden {
                    explanation,
                    policies,
                } => Error::Forbidden {
                    explanation: format!(
                        "{explanation} {terms} are the vendor's terms: the app's backend sets them (the admin token without X-Warden-Actor) unless a policy grants {action}."
                    ),
                    policies,
                },
                other => other,
            })
    }
}
