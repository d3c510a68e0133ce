//! The body of `POST /api/leads` (one lead or a batch), read into [`DirectoryLead`]s.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::ApiError;
use super::body::Field;
use crate::activities::OccurredAt;
use crate::leads::directory::{DirectoryLead, MAX_BATCH};
use crate::leads::{CrmUrl, Email, LeadId, LeadName, Phone};
use crate::parse::Invalid;

/// The largest body of a batch: 500 leads with long names, several numbers and links fit.
pub const MAX_BATCH_BODY_BYTES: usize = 1024 * 1024;

/// The most numbers one lead may have.
pub const MAX_PHONES: usize = 20;

/// `{id, name?, phones?, email?, url?, modifiedAt?}`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadBody {
    #[serde(default)]
    id: Field<LeadId>,
    #[serde(default)]
    name: Field<Option<LeadName>>,
    #[serde(default)]
    phones: Phones,
    #[serde(default)]
    email: Field<Email>,
    #[serde(default)]
    url: Field<CrmUrl>,
    #[serde(default)]
    modified_at: Field<OccurredAt>,
}

impl LeadBody {
    fn read(self, id: LeadId, now: OffsetDateTime) -> Result<DirectoryLead, ApiError> {
        let name = self.name.optional("name")?.flatten();
        let phones = match self.phones {
            Phones::Absent => Vec::new(),
            Phones::NotList => {
                return Err(ApiError::invalid_field(
                    "phones",
                    "phones must be a list of phone numbers.",
                ));
            }
            Phones::TooMany => {
                return Err(ApiError::invalid_field(
                    "phones",
                    format!("phones must hold at most {MAX_PHONES} numbers."),
                ));
            }
            Phones::Sent(sent) => {
                let mut phones: Vec<Phone> = Vec::with_capacity(sent.len());
                for (index, phone) in sent.into_iter().enumerate() {
                    let phone = phone.map_err(|invalid| {
                        ApiError::invalid_field("phones", format!("phones[{index}] {invalid}"))
                    })?;
                    if !phones.contains(&phone) {
                        phones.push(phone);
                    }
                }
                phones
            }
        };
        let email = self.email.optional("email")?;
        let url = self.url.optional("url")?;
        let modified_at = self
            .modified_at
            .optional("modifiedAt")?
            .map(|at| {
                at.not_after(now)
                    .map_err(|invalid| ApiError::field_is("modifiedAt", invalid))
            })
            .transpose()?;
        Ok(DirectoryLead {
            id,
            name,
            phones,
            email,
            url,
            modified_at,
        })
    }
}

/// `{"leads": [...]}`: 1 to 500 leads. A lead given twice counts once, as given last.
#[derive(Debug, Deserialize)]
pub struct BatchBody {
    #[serde(default)]
    leads: Option<Box<RawValue>>,
}

impl BatchBody {
    /// The batch; the first lead that is wrong is the 400, named by its position
    /// (`leads[3].phones[0] must be …`), and then nothing is written.
    pub fn into_leads(self, now: OffsetDateTime) -> Result<Vec<DirectoryLead>, ApiError> {
        let not_a_list = || {
            ApiError::invalid_field(
                "leads",
                format!("leads is required: a list of 1 to {MAX_BATCH} lead objects."),
            )
        };
        let raw = self.leads.ok_or_else(not_a_list)?;
        let bodies: Vec<LeadBody> = serde_json::from_str(raw.get()).map_err(|_| not_a_list())?;
        if bodies.is_empty() || bodies.len() > MAX_BATCH {
            return Err(not_a_list());
        }
        let mut leads = bodies
            .into_iter()
            .enumerate()
            .map(|(index, body)| {
                let in_batch = |error: ApiError| {
                    ApiError::invalid_field("leads", format!("leads[{index}].{}", error.message))
                };
                let id = body.id.clone().required("id").map_err(in_batch)?;
                body.read(id, now).map_err(in_batch)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The last of a lead's versions wins, in its own place.
        let mut seen = HashSet::with_capacity(leads.len());
        leads.reverse();
        leads.retain(|lead| seen.insert(lead.id.clone()));
        leads.reverse();
        Ok(leads)
    }
}

/// The `phones` field: a list of numbers in any common notation, each read or not.
#[derive(Debug, Default)]
enum Phones {
    #[default]
    Absent,
    Sent(Vec<Result<Phone, Invalid>>),
    NotList,
    TooMany,
}

impl<'de> Deserialize<'de> for Phones {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PhonesVisitor)
    }
}

struct PhonesVisitor;

impl<'de> Visitor<'de> for PhonesVisitor {
    type Value = Phones;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Phones, A::Error> {
        let mut phones = Vec::new();
        let mut too_many = false;
        while let Some(phone) = seq.next_element::<Field<Phone>>()? {
            if phones.len() == MAX_PHONES {
                too_many = true;
                continue;
            }
            phones.push(match phone {
                Field::Sent(phone) => phone,
                Field::Absent => Err(Invalid::NotPhoneNumber),
            });
        }
        Ok(if too_many {
            Phones::TooMany
        } else {
            Phones::Sent(phones)
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Phones, E> {
        Ok(Phones::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Phones, E> {
        Ok(Phones::Absent)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Phones, E> {
        Ok(Phones::NotList)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Phones, E> {
        Ok(Phones::NotList)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Phones, E> {
        Ok(Phones::NotList)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Phones, E> {
        Ok(Phones::NotList)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Phones, E> {
        Ok(Phones::NotList)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Phones, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Phones::NotList)
    }
}
