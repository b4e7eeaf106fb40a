//! Stages 1 and 2, the front end: rule text to typed documents.
//!
//! [`yaml`] is the only module that reads YAML; [`rule`] turns a YAML
//! document into a typed [`rule::Document`] (values as written, modifiers
//! named, not applied); [`condition`] parses condition text into an
//! [`condition::Ast`]; [`modifier`] names the value modifiers; `collection`
//! turns a Sigma 1.x rule collection (`action: global|reset|repeat`) into
//! the plain documents it stands for. Nothing here knows about field ids,
//! plans or evaluation.

pub(crate) mod collection;
pub mod condition;
pub mod modifier;
pub mod rule;
pub mod yaml;
