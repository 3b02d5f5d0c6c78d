//! # covenant-rules
//!
//! The covenant as code: chain parameters with covenant bounds, the rule catalogue, the genesis file
//! and its validation, and the rule checks as pure functions returning a [`Violation`] that names its
//! rule id and article. No IO.
//!
//! * [`params`]: [`ChainParams`] and their covenant bounds ([`PARAM_BOUNDS`]).
//! * [`violation`]: [`RuleId`] (every P and N rule) and [`Violation`] (a broken rule with its values).
//! * [`checks`]: one pure function per check; each is the one place its rule (or part) is checked.
//! * [`schema`]: data-record schema definitions and the check that a record follows one (COV-32).
//! * [`genesis`]: the genesis file, parsed and validated into [`Genesis`] with every error named.
//! * [`catalogue`]: every rule's article, class, description and honest enforcement status, and the
//!   table of all 53 articles.

pub mod catalogue;
pub mod checks;
pub mod genesis;
pub mod params;
pub mod pii;
pub mod schema;
pub mod violation;

pub use catalogue::{ARTICLES, Article, ArticleClass, CATALOGUE, Enforcement, RuleClass, RuleEntry, Stage};
pub use genesis::{Account, Environment, Genesis, GenesisError, GenesisErrorKind, GenesisErrors, RawGenesis, Schema};
pub use params::{AUDIT_RETENTION_DAYS_MIN, ChainParams, PARAM_BOUNDS, ParamBound, ParamError};
pub use violation::{RuleId, UnknownRuleId, Violation};
