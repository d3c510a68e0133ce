//! The CRM the leads come from: EspoCRM's REST API (`espocrm`), read page by page into the lead
//! directory by the sync (`sync`), with each tenant's connection kept as a secret (`connection`).

pub mod connection;
pub mod espocrm;
pub mod sync;
