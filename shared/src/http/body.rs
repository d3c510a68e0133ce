//! Request bodies: JSON read straight into a route's typed body, whose fields are domain values
//! ([`Field`]). Too large is a 413, not sent as JSON a 415, malformed JSON or not an object a 400.

use std::fmt;
use std::marker::PhantomData;

use lambda_http::Request;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ApiError, header};
use crate::parse::{Invalid, Parse};

/// The largest JSON body a route accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body, checked for size (413).
pub fn bytes(req: &Request) -> Result<&[u8], ApiError> {
    bytes_up_to(req, MAX_BODY_BYTES)
}

/// The request body, checked for a size of the route's own (413).
pub fn bytes_up_to(req: &Request, limit: usize) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(bytes)
}

/// Whether a Content-Type names JSON (`application/json`, with parameters, or `application/*+json`).
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

fn expect_json_content_type(req: &Request) -> Result<(), ApiError> {
    match header(req, "content-type")? {
        Some(content_type) if is_json_media_type(content_type) => Ok(()),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// The request body, read as a JSON object into `T`.
pub fn json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    json_up_to(req, MAX_BODY_BYTES)
}

/// The same, for a route that takes larger bodies (a batch).
pub fn json_up_to<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    let bytes = bytes_up_to(req, limit)?;
    expect_json_content_type(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "The request body is empty; a JSON object is expected.",
        ));
    }
    let not_json = |error: serde_json::Error| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "The request body is not valid JSON (line {}, column {}).",
                error.line(),
                error.column()
            ),
        )
    };
    // A derived struct would also read an array, field by field: only an object is a body.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => {
                ApiError::bad_request("invalid_json", "The request body must be a JSON object.")
            }
            Err(error) => not_json(error),
        });
    }
    serde_json::from_slice(bytes).map_err(|error| {
        if error.is_data() {
            // The fields of a body never fail (see `Field`), so the object names one twice.
            ApiError::bad_request(
                "invalid_json",
                "The request body names a field more than once.",
            )
        } else {
            not_json(error)
        }
    })
}

/// Checks an optional body, where a route reads none: absent, or valid JSON sent as JSON (415 for
/// another type, 400 for malformed JSON).
pub fn optional_json(req: &Request) -> Result<(), ApiError> {
    let bytes = bytes(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    expect_json_content_type(req)?;
    serde_json::from_slice::<IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|_| ApiError::bad_request("invalid_json", "The request body is not valid JSON."))
}

/// One field of a JSON body, as sent: absent (or `null`), or text that did or did not parse into
/// a `T`. Reading a field never fails, so that a body's fields are judged in the route's order,
/// with the message of the first that is wrong.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Sent(Result<T, Invalid>),
}

impl<T: Parse> Field<T> {
    /// The value of a required field.
    pub fn required(self, name: &'static str) -> Result<T, ApiError> {
        match self {
            Field::Absent => Err(ApiError::field_required(name, T::EXPECTED)),
            Field::Sent(parsed) => parsed.map_err(|invalid| ApiError::field_is(name, invalid)),
        }
    }

    /// The value of an optional field.
    pub fn optional(self, name: &'static str) -> Result<Option<T>, ApiError> {
        match self {
            Field::Absent => Ok(None),
            Field::Sent(parsed) => parsed
                .map(Some)
                .map_err(|invalid| ApiError::field_is(name, invalid)),
        }
    }
}

impl<'de, T: Parse> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<T>(PhantomData<T>);

impl<T: Parse> FieldVisitor<T> {
    fn not_text<E>(self) -> Result<Field<T>, E> {
        Ok(Field::Sent(Err(T::EXPECTED.unwrap_or(Invalid::NotText))))
    }
}

impl<'de, T: Parse> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Field::Sent(T::parse(text)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Absent)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        self.not_text()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        self.not_text()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        self.not_text()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        self.not_text()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_text()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.not_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    pub(crate) fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/x");
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(Body::from(body.to_owned())).unwrap()
    }

    #[derive(Debug, Deserialize)]
    struct Named {
        #[serde(default)]
        name: Field<crate::leads::LeadId>,
    }

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/vnd.max+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/x-www-form-urlencoded"));
        assert!(!is_json_media_type("json"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_rejected() {
        for body in [
            "[1,2]",
            "[\"a\", \"email\"]",
            "\"just a string\"",
            "null",
            "3",
        ] {
            let error = json::<Named>(&request(Some("application/json"), body)).unwrap_err();
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.code, "invalid_json");
            assert_eq!(error.message, "The request body must be a JSON object.");
        }
    }

    #[test]
    fn malformed_json_is_a_400_with_its_position() {
        let error = json::<Named>(&request(Some("application/json"), "{\"a\":")).unwrap_err();
        assert_eq!(error.code, "invalid_json");
        assert!(error.message.contains("line 1"), "{}", error.message);
    }

    #[test]
    fn a_field_sent_twice_is_a_400() {
        let body = r#"{"name": "a", "name": "b"}"#;
        let error = json::<Named>(&request(Some("application/json"), body)).unwrap_err();
        assert_eq!((error.status.as_u16(), error.code), (400, "invalid_json"));
    }

    #[test]
    fn a_body_without_json_content_type_is_a_415() {
        let error = json::<Named>(&request(Some("text/plain"), "{}")).unwrap_err();
        assert_eq!(error.status, 415);
        let error = json::<Named>(&request(None, "{}")).unwrap_err();
        assert_eq!(error.status, 415);
    }

    #[test]
    fn a_body_over_64_kib_is_a_413_whatever_its_type() {
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        let error = json::<Named>(&request(Some("text/plain"), &big)).unwrap_err();
        assert_eq!(error.status, 413);
    }

    #[test]
    fn a_field_is_absent_null_wrong_or_parsed_and_never_fails_the_body() {
        let read = |body: &str| {
            json::<Named>(&request(Some("application/json"), body))
                .unwrap()
                .name
        };
        assert_eq!(read("{}"), Field::Absent);
        assert_eq!(read(r#"{"name": null}"#), Field::Absent);
        assert_eq!(read(r#"{"name": ""}"#), Field::Sent(Err(Invalid::Empty)));
        assert_eq!(read(r#"{"name": 42}"#), Field::Sent(Err(Invalid::NotText)));
        assert_eq!(
            read(r#"{"name": {"deep": [1, {"x": 2}]}, "other": [true]}"#),
            Field::Sent(Err(Invalid::NotText))
        );
        assert!(matches!(read(r#"{"name": "lead-1"}"#), Field::Sent(Ok(_))));
    }

    #[test]
    fn an_empty_optional_body_needs_no_content_type() {
        assert!(optional_json(&request(None, "")).is_ok());
        assert!(optional_json(&request(Some("application/json"), "{}")).is_ok());
        assert_eq!(
            optional_json(&request(Some("application/json"), "{"))
                .unwrap_err()
                .code,
            "invalid_json"
        );
        assert_eq!(
            optional_json(&request(Some("text/plain"), "hi"))
                .unwrap_err()
                .status,
            415
        );
    }
}
