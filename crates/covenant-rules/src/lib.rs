//! # covenant-rules
//!
//! The covenant as code: chain parameters with covenant bounds, the rule catalogue, and the rule checks
//! as pure functions returning a [`Violation`] that names its rule id and article. No IO.

pub mod checks;
pub mod params;
pub mod violation;

pub use params::{ChainParams, PARAM_BOUNDS, ParamBound, ParamError};
pub use violation::{RuleId, Violation};
