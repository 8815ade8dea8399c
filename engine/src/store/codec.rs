//! How records are written to disk. The records a check reads (orgs, users,
//! memberships, workspaces, workspace members, resources: the keys
//! `keys::feeds_checks` names) are compact binary: a format byte
//! ([`COMPACT`]) and the record in postcard, with uuids as 16 bytes and
//! times as integers; a random check at scale is paid in pages read, so
//! these records are a third of their JSON size. Audit records, one per
//! command and most of a database's bytes, are compact too (half their
//! JSON size). Everything else (ledger, idempotency, invitations…) is
//! JSON, read rarely and by people too.
//!
//! Architecture invariant: a value's first byte says its format. JSON never
//! starts with byte 1, so a store may hold both and every reader takes
//! either; `migrate::compact_check_records` rewrites a store of schema 2.
//!
//! postcard writes fields in order without names, and enum variants by
//! index: a compact record's type may only change with a new format byte
//! (and a migration), never in place. Fields holding free-form JSON (a
//! resource's attributes, an audit record's details and plugin answers)
//! are written as JSON text inside the record.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys;
use crate::error::{Error, Result};

/// The format byte of a compact (postcard) record.
pub const COMPACT: u8 = 1;

/// Encodes the record stored under `key`: compact for the records checks
/// read and for audit records, JSON otherwise. Encoding Warden's own plain
/// structs cannot fail.
pub fn encode<T: Serialize>(key: &[u8], value: &T) -> Vec<u8> {
    if keys::feeds_checks(key) || keys::is_audit(key) {
        compact(value)
    } else {
        json(value)
    }
}

/// A record as [`COMPACT`] postcard.
pub(super) fn compact<T: Serialize>(value: &T) -> Vec<u8> {
    let bytes = vec![COMPACT];
    postcard::to_extend(value, bytes).expect("records serialise to postcard")
}

/// A record as JSON.
pub(super) fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise to JSON")
}

/// Decodes a record in whichever format its first byte names.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&COMPACT, record)) => postcard::from_bytes(record).map_err(corrupt),
        _ => serde_json::from_slice(bytes).map_err(corrupt),
    }
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("corrupt record: {e}"))
}

/// A timestamp field of a compact record: RFC 3339 in JSON (the API and
/// older records), nanoseconds since the Unix epoch in binary.
pub mod timestamp {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;

    /// Writes `at` as the serializer's kind of format wants it.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            time::serde::rfc3339::serialize(at, s)
        } else {
            at.unix_timestamp_nanos().serialize(s)
        }
    }

    /// Reads a time written by [`serialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        if d.is_human_readable() {
            time::serde::rfc3339::deserialize(d)
        } else {
            let nanos = i128::deserialize(d)?;
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(serde::de::Error::custom)
        }
    }
}

/// A free-form JSON field of a compact record (a resource's attributes, an
/// audit record's details): itself in JSON, JSON text in binary (postcard
/// cannot read a self-describing value).
pub mod json_text {
    use serde::de::{DeserializeOwned, Error as _};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `value` as the serializer's kind of format wants it.
    pub fn serialize<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            value.serialize(s)
        } else {
            let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
            text.serialize(s)
        }
    }

    /// Reads a value written by [`serialize`].
    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        if d.is_human_readable() {
            T::deserialize(d)
        } else {
            let text = <&str>::deserialize(d)?;
            serde_json::from_str(text).map_err(D::Error::custom)
        }
    }
}

/// A time written as [`timestamp`] does, for a hand-written `Serialize`.
pub struct Timestamp<'a>(pub &'a time::OffsetDateTime);

impl Serialize for Timestamp<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        timestamp::serialize(self.0, s)
    }
}

/// A value written as [`json_text`] does, for a hand-written `Serialize`.
pub struct JsonText<'a, T>(pub &'a T);

impl<T: Serialize> Serialize for JsonText<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json_text::serialize(self.0, s)
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::store::{Membership, MembershipStatus, OrgRole, Resource};

    fn membership() -> Membership {
        Membership {
            org: Uuid::now_v7(),
            user: Uuid::now_v7(),
            role: OrgRole::GuestInternal,
            status: MembershipStatus::Active,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn check_records_are_compact_and_read_back_in_both_formats() {
        let m = membership();
        let key = keys::membership(m.org, m.user);
        let stored = encode(&key, &m);
        assert_eq!(stored[0], COMPACT);
        let as_json = json(&m);
        assert!(
            stored.len() * 3 < as_json.len(),
            "{} compact bytes against {} of JSON",
            stored.len(),
            as_json.len()
        );
        assert_eq!(decode::<Membership>(&stored).unwrap(), m);
        assert_eq!(decode::<Membership>(&as_json).unwrap(), m);
        // The API's JSON is unchanged: RFC 3339 times, uuids as text.
        let api = serde_json::to_value(&m).unwrap();
        assert!(api["created_at"].as_str().unwrap().contains('T'));
    }

    #[test]
    fn a_resource_keeps_its_free_form_attributes() {
        let attributes = serde_json::json!({"tags": ["a", {"deep": 1.5}], "n": null});
        let resource = Resource {
            id: Uuid::now_v7(),
            kind: "Flow".into(),
            org: Uuid::now_v7(),
            workspace: Uuid::now_v7(),
            folder: None,
            owner: Some(Uuid::now_v7()),
            shared_with: vec![Uuid::now_v7()],
            attributes: attributes.as_object().unwrap().clone(),
            created_at: OffsetDateTime::now_utc(),
        };
        let stored = encode(&keys::resource(resource.id), &resource);
        assert_eq!(stored[0], COMPACT);
        assert_eq!(decode::<Resource>(&stored).unwrap(), resource);
        let api = serde_json::to_value(&resource).unwrap();
        assert_eq!(api["attributes"], attributes);
    }

    #[test]
    fn other_records_stay_json_and_damage_is_an_error() {
        let key = keys::idempotency("scope", "k");
        assert_eq!(encode(&key, &7u32), b"7");
        let mut damaged = encode(&keys::user(Uuid::now_v7()), &membership());
        damaged.truncate(5);
        assert!(decode::<Membership>(&damaged).is_err());
    }
}
