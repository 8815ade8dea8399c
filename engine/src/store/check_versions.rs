//! Versions of what checks read. Every committed write of a record a check
//! reads (`keys::feeds_checks`) advances the version of each id its key
//! names — an org, a user, a workspace, a resource — and one count of all
//! such writes. Whatever a check built from the store (its cached entities)
//! notes the versions of the ids it was built from and stays in use while
//! they are unchanged: a write in one org leaves every other org's cached
//! checks alone, and never lets a check answer from data older than the
//! last write that returned.
//!
//! Ids share `CHECK_VERSION_STRIPES` counters by hash: two ids on one
//! stripe only cost a needless rebuild.

use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

/// How many version counters the ids share (8 bytes each).
pub const CHECK_VERSION_STRIPES: usize = 4096;

/// One id's stripe and its version when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    stripe: u32,
    version: u64,
}

impl Version {
    /// Whether two ids' versions are one counter (a write of either
    /// advances both).
    #[cfg(test)]
    pub fn shares_counter(self, other: Version) -> bool {
        self.stripe == other.stripe
    }
}

pub struct CheckVersions {
    writes: AtomicU64,
    stripes: Box<[AtomicU64]>,
}

impl Default for CheckVersions {
    fn default() -> Self {
        CheckVersions {
            writes: AtomicU64::new(0),
            stripes: (0..CHECK_VERSION_STRIPES)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl CheckVersions {
    /// How many commits have written check records. Read it before and
    /// after building from those records: when both reads agree, nothing
    /// committed meanwhile and the versions read in between are those of
    /// what was built.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// `id`'s version now.
    pub fn version(&self, id: Uuid) -> Version {
        let stripe = stripe(id);
        Version {
            stripe: stripe as u32,
            version: self.stripes[stripe].load(Ordering::SeqCst),
        }
    }

    /// Whether nothing that `version` was read for has been written since.
    pub fn is_current(&self, version: Version) -> bool {
        self.stripes[version.stripe as usize].load(Ordering::SeqCst) == version.version
    }

    /// After a commit that wrote check records naming `ids`: the count of
    /// writes first, then each id's version, so that a reader who saw an
    /// advanced version also sees the advanced count (see `writes`).
    pub(super) fn advance(&self, ids: &[Uuid]) {
        if ids.is_empty() {
            return;
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        for &id in ids {
            self.stripes[stripe(id)].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// When what changed is not known (this server lost track of other
    /// servers' writes): every version advances.
    pub(super) fn advance_all(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        for stripe in self.stripes.iter() {
            stripe.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn stripe(id: Uuid) -> usize {
    let (high, low) = id.as_u64_pair();
    // v7 ids share their high (time) bits; mixing both halves spreads them.
    let mixed = (high ^ low).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as usize % CHECK_VERSION_STRIPES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_advances_the_ids_it_names_and_no_other() {
        let versions = CheckVersions::default();
        let (written, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(stripe(written), stripe(other), "consecutive v7 ids spread");
        let (before, untouched) = (versions.version(written), versions.version(other));
        let writes = versions.writes();
        versions.advance(&[written]);
        assert!(!versions.is_current(before));
        assert!(versions.is_current(untouched));
        assert_eq!(versions.writes(), writes + 1);
        versions.advance(&[]);
        assert_eq!(versions.writes(), writes + 1, "no ids, no check write");
    }
}
