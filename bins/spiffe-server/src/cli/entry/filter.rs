//! The filters of `entry show` and `entry count`.

use anyhow::{Context, Result, anyhow};
use clap::{ArgAction, Args};
use spiffe_core::SpiffeId;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::types as pb;

use crate::cli::flags::{self, go_bool};

/// Filter flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct FilterArgs {
    /// Show entries with this parent ID
    #[arg(long = "parentID", alias = "parent-id", value_name = "ID")]
    pub(crate) parent_id: Option<String>,
    /// Show entries with this SPIFFE ID
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    pub(crate) spiffe_id: Option<String>,
    /// Show only entries of downstream servers
    #[arg(long = "downstream", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    pub(crate) downstream: bool,
    /// A `type:value` selector; repeat for more
    #[arg(long = "selector", value_name = "TYPE:VALUE")]
    pub(crate) selectors: Vec<String>,
    /// A federated trust domain; repeat for more
    #[arg(long = "federatesWith", alias = "federates-with", value_name = "TD")]
    pub(crate) federates_with: Vec<String>,
    /// How -selector matches: exact, subset, superset or any
    #[arg(
        long = "matchSelectorsOn",
        alias = "match-selectors-on",
        value_name = "MODE",
        default_value = "superset"
    )]
    pub(crate) match_selectors_on: String,
    /// How -federatesWith matches: exact, subset, superset or any
    #[arg(
        long = "matchFederatesWithOn",
        alias = "match-federates-with-on",
        value_name = "MODE",
        default_value = "superset"
    )]
    pub(crate) match_federates_with_on: String,
    /// Show entries with this hint
    #[arg(long = "hint", value_name = "HINT")]
    pub(crate) hint: Option<String>,
}

/// The parts of the API's filter, shared by ListEntries and CountEntries.
pub(crate) struct Filter {
    by_spiffe_id: Option<pb::Spiffeid>,
    by_parent_id: Option<pb::Spiffeid>,
    by_selectors: Option<pb::SelectorMatch>,
    by_federates_with: Option<pb::FederatesWithMatch>,
    by_hint: Option<String>,
    by_downstream: Option<bool>,
}

impl FilterArgs {
    /// Parses the flags (SPIRE's messages and order).
    pub(crate) fn filter(&self) -> Result<Filter> {
        let parse_id = |what: &str, s: &Option<String>| -> Result<Option<pb::Spiffeid>> {
            match s.as_deref() {
                None | Some("") => Ok(None),
                Some(s) => SpiffeId::parse_normalized(s)
                    .map(|id| Some(flags::id_pb(&id)))
                    .map_err(|e| anyhow!("error parsing {what} {s:?}: {e}")),
            }
        };
        let by_parent_id = parse_id("parent ID", &self.parent_id)?;
        let by_spiffe_id = parse_id("SPIFFE ID", &self.spiffe_id)?;
        let by_selectors = if self.selectors.is_empty() {
            None
        } else {
            let r#match = flags::match_mode(&self.match_selectors_on)?;
            let selectors = flags::selectors(&self.selectors).context("error parsing selectors")?;
            Some(pb::SelectorMatch { selectors, r#match })
        };
        let by_federates_with = if self.federates_with.is_empty() {
            None
        } else {
            Some(pb::FederatesWithMatch {
                trust_domains: self.federates_with.clone(),
                r#match: flags::match_mode(&self.match_federates_with_on)?,
            })
        };
        Ok(Filter {
            by_spiffe_id,
            by_parent_id,
            by_selectors,
            by_federates_with,
            by_hint: self.hint.clone().filter(|h| !h.is_empty()),
            by_downstream: Some(self.downstream),
        })
    }
}

impl Filter {
    /// As ListEntries takes it.
    pub(crate) fn list(self) -> api::list_entries_request::Filter {
        api::list_entries_request::Filter {
            by_spiffe_id: self.by_spiffe_id,
            by_parent_id: self.by_parent_id,
            by_selectors: self.by_selectors,
            by_federates_with: self.by_federates_with,
            by_hint: self.by_hint,
            by_downstream: self.by_downstream,
        }
    }

    /// As CountEntries takes it.
    pub(crate) fn count(self) -> api::count_entries_request::Filter {
        api::count_entries_request::Filter {
            by_spiffe_id: self.by_spiffe_id,
            by_parent_id: self.by_parent_id,
            by_selectors: self.by_selectors,
            by_federates_with: self.by_federates_with,
            by_hint: self.by_hint,
            by_downstream: self.by_downstream,
        }
    }
}
