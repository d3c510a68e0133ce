//! Reading fields out of a JSON body, with errors that name the field and say what is expected.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The longest id (lead, external, idempotency key) or name accepted.
pub const MAX_ID_CHARS: usize = 200;

/// Checks an id: 1 to 200 characters, not blank, no control characters.
pub fn id_text(text: &str, name: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(format!("{name} must not be empty."));
    }
    if text.chars().count() > MAX_ID_CHARS {
        return Err(format!("{name} must be at most {MAX_ID_CHARS} characters."));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{name} must not contain control characters."));
    }
    Ok(text.to_owned())
}

/// An optional id field; `null` counts as absent.
pub fn id(body: &Map<String, Value>, field: &'static str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => id_text(text, field)
            .map(Some)
            .map_err(|message| ApiError::invalid_field(field, message)),
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("{field} must be a string."),
        )),
    }
}

/// An optional text field; `null` counts as absent. Text may not hold NUL characters, which
/// PostgreSQL cannot store.
pub fn optional_text<'b>(
    body: &'b Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'b str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.contains('\0') => Err(ApiError::invalid_field(
            field,
            format!("{field} must not contain NUL characters."),
        )),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("{field} must be a string."),
        )),
    }
}
