//! Stored attribute values (JSON) as Cedar expressions.
//!
//! Why not Cedar's JSON entity parser: it tries each value shape in turn
//! and builds an error for every miss, which made it 80% of a check's cost.
//! Warden's own records have known shapes, so they are built directly; only
//! the free-form attributes of workspace resources go through here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};

/// Converts one attribute value. Entity references and extension values use
/// Cedar's JSON escapes: `{"__entity": {"type", "id"}}`,
/// `{"__extn": {"fn": "decimal" | "ip", "arg"}}`.
pub fn expression(value: &Value) -> Result<RestrictedExpression, String> {
    Ok(match value {
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::Number(n) => RestrictedExpression::new_long(
            n.as_i64()
                .ok_or_else(|| format!("{n} is not a 64-bit integer (Cedar has no floats)"))?,
        ),
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Array(items) => RestrictedExpression::new_set(
            items
                .iter()
                .map(expression)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Object(fields) => object(fields)?,
        Value::Null => return Err("null is not a Cedar value".into()),
    })
}

fn object(fields: &Map<String, Value>) -> Result<RestrictedExpression, String> {
    if let (1, Some(reference)) = (fields.len(), fields.get("__entity")) {
        let kind = reference["type"]
            .as_str()
            .ok_or("__entity needs a string \"type\"")?;
        let id = reference["id"]
            .as_str()
            .ok_or("__entity needs a string \"id\"")?;
        return Ok(RestrictedExpression::new_entity_uid(uid(kind, id)?));
    }
    if let (1, Some(extension)) = (fields.len(), fields.get("__extn")) {
        let arg = extension["arg"]
            .as_str()
            .ok_or("__extn needs a string \"arg\"")?;
        return match extension["fn"].as_str() {
            Some("decimal") => Ok(RestrictedExpression::new_decimal(arg)),
            Some("ip") => Ok(RestrictedExpression::new_ip(arg)),
            other => Err(format!(
                "unsupported extension function {other:?} (decimal, ip)"
            )),
        };
    }
    let fields = fields
        .iter()
        .map(|(name, value)| Ok((name.clone(), expression(value)?)))
        .collect::<Result<Vec<_>, String>>()?;
    RestrictedExpression::new_record(fields).map_err(|e| e.to_string())
}

/// How many parsed entity type names each thread keeps; a schema has a
/// handful, the bound only matters against a stream of invalid ones.
const MAX_CACHED_TYPE_NAMES: usize = 256;

thread_local! {
    /// Parsing a type name runs Cedar's parser, which cost more than the
    /// rest of building an entity.
    static TYPE_NAMES: RefCell<HashMap<String, EntityTypeName>> = RefCell::new(HashMap::new());
}

/// The Cedar uid `kind::"id"`.
pub fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let cached = TYPE_NAMES.with_borrow(|names| names.get(kind).cloned());
    let name = match cached {
        Some(name) => name,
        None => {
            let name = EntityTypeName::from_str(kind)
                .map_err(|_| format!("{kind:?} is not a valid entity type name"))?;
            TYPE_NAMES.with_borrow_mut(|names| {
                if names.len() < MAX_CACHED_TYPE_NAMES {
                    names.insert(kind.to_string(), name.clone());
                }
            });
            name
        }
    };
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_of_every_shape_convert() {
        let value = json!({"n": 3, "ok": true, "tags": ["a", "b"], "owner": {"__entity": {"type": "User", "id": "u1"}},
            "price": {"__extn": {"fn": "decimal", "arg": "1.50"}}});
        let expr = format!("{:?}", expression(&value).unwrap());
        assert!(expr.contains("u1") && expr.contains("User"), "{expr}");
        assert!(expr.contains("decimal") && expr.contains("1.50"), "{expr}");
    }

    #[test]
    fn values_cedar_cannot_hold_are_refused() {
        assert!(expression(&json!(1.5)).unwrap_err().contains("floats"));
        assert!(expression(&json!({"a": null}))
            .unwrap_err()
            .contains("null"));
        assert!(expression(&json!({"__extn": {"fn": "sqrt", "arg": "2"}})).is_err());
    }
}
