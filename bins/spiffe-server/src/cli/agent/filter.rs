//! The filters of `agent list` and `agent count`.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use spiffe_proto::spire::api::server::agent::v1 as api;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::api::expires_before::{format_expires_before, parse_expires_before};

use crate::cli::flags;

/// Filter flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct AgentFilterArgs {
    /// A `type:value` selector; repeat for more
    #[arg(long = "selector", value_name = "TYPE:VALUE")]
    pub(crate) selectors: Vec<String>,
    /// How -selector matches: exact, subset, superset or any
    #[arg(
        long = "matchSelectorsOn",
        alias = "match-selectors-on",
        value_name = "MODE",
        default_value = "superset"
    )]
    pub(crate) match_selectors_on: String,
    /// Only agents attested this way (join_token, x509pop, k8s_psat, ...)
    #[arg(
        long = "attestationType",
        alias = "attestation-type",
        value_name = "TYPE"
    )]
    pub(crate) attestation_type: Option<String>,
    /// `true`: agents that can re-attest; `false`: agents that cannot; else all
    #[arg(long = "canReattest", alias = "can-reattest", value_name = "BOOL")]
    pub(crate) can_reattest: Option<String>,
    /// `true`: banned agents; `false`: agents not banned; else all
    #[arg(long = "banned", value_name = "BOOL")]
    pub(crate) banned: Option<String>,
    /// Only agents whose SVID expires before this time ("2006-01-02 15:04:05 -0700 -07", a
    /// zone name in place of "-07", or seconds since the Unix epoch)
    #[arg(long = "expiresBefore", alias = "expires-before", value_name = "TIME")]
    pub(crate) expires_before: Option<String>,
}

/// SPIRE's tri-state string flags.
fn tri_state(s: Option<&str>) -> Option<bool> {
    match s {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// The API's filter parts.
pub(crate) struct AgentFilter {
    by_attestation_type: String,
    by_selector_match: Option<pb::SelectorMatch>,
    by_banned: Option<bool>,
    by_can_reattest: Option<bool>,
    by_expires_before: String,
}

impl AgentFilterArgs {
    /// Parses the flags.
    pub(crate) fn filter(&self) -> Result<AgentFilter> {
        let by_selector_match = if self.selectors.is_empty() {
            None
        } else {
            let r#match = flags::match_mode(&self.match_selectors_on).map_err(|_| {
                anyhow!(
                    "unsupported match behavior {:?} (exact, subset, superset, any)",
                    self.match_selectors_on
                )
            })?;
            let mut selectors = Vec::new();
            for s in &self.selectors {
                selectors.push(
                    flags::selector(s).map_err(|e| anyhow!("error parsing selector {s:?}: {e}"))?,
                );
            }
            Some(pb::SelectorMatch { selectors, r#match })
        };
        // Checked as the server checks it, then sent in SPIRE's layout (UTC), which SPIRE's
        // server reads too (it drops a filter it cannot read, without a word).
        let by_expires_before = match self.expires_before.as_deref() {
            None | Some("") => String::new(),
            Some(s) => parse_expires_before(s)
                .and_then(format_expires_before)
                .map_err(|e| anyhow!("date is not valid: {e}"))?,
        };
        if self.attestation_type.as_deref().is_some_and(str::is_empty) {
            bail!("-attestationType must not be empty");
        }
        Ok(AgentFilter {
            by_attestation_type: self.attestation_type.clone().unwrap_or_default(),
            by_selector_match,
            by_banned: tri_state(self.banned.as_deref()),
            by_can_reattest: tri_state(self.can_reattest.as_deref()),
            by_expires_before,
        })
    }
}

impl AgentFilter {
    /// As ListAgents takes it.
    pub(crate) fn list(self) -> api::list_agents_request::Filter {
        api::list_agents_request::Filter {
            by_attestation_type: self.by_attestation_type,
            by_selector_match: self.by_selector_match,
            by_banned: self.by_banned,
            by_can_reattest: self.by_can_reattest,
            by_expires_before: self.by_expires_before,
        }
    }

    /// As CountAgents takes it.
    pub(crate) fn count(self) -> api::count_agents_request::Filter {
        api::count_agents_request::Filter {
            by_attestation_type: self.by_attestation_type,
            by_selector_match: self.by_selector_match,
            by_banned: self.by_banned,
            by_can_reattest: self.by_can_reattest,
            by_expires_before: self.by_expires_before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expires_before(s: &str) -> Result<String> {
        let args = AgentFilterArgs {
            selectors: Vec::new(),
            match_selectors_on: "superset".into(),
            attestation_type: None,
            can_reattest: None,
            banned: None,
            expires_before: Some(s.into()),
        };
        Ok(args.filter()?.list().by_expires_before)
    }

    #[test]
    fn expires_before_is_sent_in_spire_layout() {
        assert_eq!(
            expires_before("2024-01-01 12:00:00 +0000 UTC").unwrap(),
            "2024-01-01 12:00:00 +0000 +00"
        );
        assert_eq!(
            expires_before("2024-01-01 12:00:00 -0700 -07").unwrap(),
            "2024-01-01 19:00:00 +0000 +00"
        );
        assert_eq!(
            expires_before("1704110400").unwrap(),
            "2024-01-01 12:00:00 +0000 +00"
        );
        assert_eq!(expires_before("").unwrap(), "");
        let e = expires_before("yesterday").unwrap_err().to_string();
        assert!(e.starts_with("date is not valid: "), "{e}");
        assert!(expires_before("99999999999999").is_err());
        assert_eq!(tri_state(Some("true")), Some(true));
        assert_eq!(tri_state(Some("all")), None);
    }
}
