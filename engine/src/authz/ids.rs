//! Entity ids as a check receives them.
//!
//! Warden's ids are uuids, and a uuid has many spellings (upper or mixed
//! case, braced, `urn:uuid:…`, without hyphens) that `Uuid::parse_str` all
//! reads as the same record. Cedar compares ids as strings, so a second
//! spelling of a stored id would be a second entity that a caller could
//! define while Warden's routes read it as the stored one.
//!
//! The rule, wherever an id enters: a *typed* id (a path segment, a header,
//! a uuid field of a body) is parsed into a [`Uuid`], which has one
//! spelling, before any lookup, guard or cache key; a *free-form* entity id
//! (principal, resource, entities and context of a check) is kept as sent,
//! and if it spells a uuid (whole, or before the `/` of a role group id such
//! as `<org id>/admin`) it must spell it canonically, lower-case and
//! hyphenated. Any other spelling is a 400 naming where it was.

use std::fmt::Write;

use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Refuses `kind::id` if it spells a uuid other than canonically; `field`
/// names where the id was sent.
pub fn require_canonical(kind: &str, id: &str, field: impl FnOnce() -> String) -> Result<()> {
    let (head, rest) = match id.split_once('/') {
        Some((head, rest)) => (head, Some(rest)),
        None => (id, None),
    };
    let Ok(uuid) = Uuid::try_parse(head) else {
        return Ok(());
    };
    let mut buffer = Uuid::encode_buffer();
    let canonical = uuid.hyphenated().encode_lower(&mut buffer);
    if head == canonical {
        return Ok(());
    }
    let spelled = match rest {
        Some(rest) => format!("{canonical}/{rest}"),
        None => canonical.to_string(),
    };
    Err(Error::invalid(
        field(),
        format!(
            "{kind}::{id:?} spells a uuid other than canonically; \
             write it {kind}::{spelled:?} (lower-case, hyphenated)"
        ),
    ))
}

/// The `(type, id)` named by an entity reference in Cedar's JSON:
/// `{"__entity": {"type", "id"}}` or `{"type", "id"}`.
pub fn reference(value: &Value) -> Option<(&str, &str)> {
    let object = value.as_object()?;
    let named = match object.get("__entity") {
        Some(inner) => inner.as_object()?,
        None => object,
    };
    Some((named.get("type")?.as_str()?, named.get("id")?.as_str()?))
}

/// Applies [`require_canonical`] to every entity reference inside an
/// attribute, tag or context value, in either JSON form, at any depth.
/// `path` is the value's field path; it is extended while descending and
/// restored on success. An object with a string `type` and `id` counts as a
/// reference whatever else it holds (Cedar reads it as one where the schema
/// expects an entity).
pub fn require_canonical_within(value: &Value, path: &mut String) -> Result<()> {
    let len = path.len();
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                write!(path, "[{index}]").expect("writing to a String");
                require_canonical_within(item, path)?;
                path.truncate(len);
            }
        }
        Value::Object(fields) => {
            if let (Some(Value::String(kind)), Some(Value::String(id))) =
                (fields.get("type"), fields.get("id"))
            {
                require_canonical(kind, id, || format!("{path}.id"))?;
            }
            for (name, item) in fields {
                write!(path, ".{name}").expect("writing to a String");
                require_canonical_within(item, path)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CANONICAL: &str = "0190a5e2-7c1b-7d3e-9f00-a1b2c3d4e5f6";

    #[test]
    fn only_the_canonical_spelling_of_a_uuid_passes() {
        let upper = CANONICAL.to_uppercase();
        let simple = CANONICAL.replace('-', "");
        let braced = format!("{{{CANONICAL}}}");
        let urn = format!("urn:uuid:{CANONICAL}");
        for id in [&upper, &simple, &braced, &urn] {
            let error = require_canonical("Flow", id, || "resource.id".into()).unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("resource.id: "), "{message}");
            assert!(message.contains(CANONICAL), "{message}");
        }
        require_canonical("Flow", CANONICAL, || unreachable!()).unwrap();
        require_canonical("Flow", "app-flow-1", || unreachable!()).unwrap();
    }

    #[test]
    fn a_role_group_id_spells_its_owner_canonically() {
        let upper = format!("{}/admin", CANONICAL.to_uppercase());
        let message = require_canonical("OrgRole", &upper, || "x".into())
            .unwrap_err()
            .to_string();
        assert!(message.contains(&format!("{CANONICAL}/admin")), "{message}");
        require_canonical("OrgRole", &format!("{CANONICAL}/admin"), || unreachable!()).unwrap();
    }

    #[test]
    fn references_are_found_at_any_depth_in_either_form() {
        let upper = CANONICAL.to_uppercase();
        let cases = [
            (
                json!({"__entity": {"type": "User", "id": upper}}),
                "v.__entity.id",
            ),
            (json!([{"type": "User", "id": upper}]), "v[0].id"),
            (
                json!({"a": {"b": [1, {"type": "User", "id": upper, "x": 1}]}}),
                "v.a.b[1].id",
            ),
        ];
        for (value, field) in cases {
            let mut path = "v".to_string();
            match require_canonical_within(&value, &mut path) {
                Err(Error::Invalid { field: found, .. }) => assert_eq!(found, field),
                other => panic!("{value}: {other:?}"),
            }
        }
        let fine = json!({"owner": {"__entity": {"type": "User", "id": CANONICAL}}, "n": "ABC"});
        let mut path = "v".to_string();
        require_canonical_within(&fine, &mut path).unwrap();
        assert_eq!(path, "v");
    }
}
