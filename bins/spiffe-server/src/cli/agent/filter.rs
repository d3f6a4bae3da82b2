//! The filters of `agent list` and `agent count`.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use spiffe_proto::spire::api::server::agent::v1 as api;
use spiffe_proto::spire::api::types as pb;

use crate::cli::flags;
use crate::cli::gotime::days_from_civil;

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
    /// Only agents whose SVID expires before this time ("2006-01-02 15:04:05 -0700 -07", or
    /// seconds since the Unix epoch)
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

/// Go's layout `2006-01-02 15:04:05 -0700 -07` (or Unix seconds) to Unix seconds.
pub(crate) fn parse_expires_before(s: &str) -> Result<i64> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return Ok(secs);
    }
    let bad = || {
        anyhow!(
            "date is not valid: {s:?} does not match the layout \"2006-01-02 15:04:05 -0700 -07\""
        )
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [date, time, offset, ..] = parts.as_slice() else {
        return Err(bad());
    };
    let nums = |t: &str, sep: char| -> Option<Vec<i64>> {
        t.split(sep).map(|p| p.parse::<i64>().ok()).collect()
    };
    let (Some(d), Some(t)) = (nums(date, '-'), nums(time, ':')) else {
        return Err(bad());
    };
    let ([y, mo, da], [h, mi, se]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    let (sign, digits) = match offset.split_at_checked(1) {
        Some(("+", d)) => (1, d),
        Some(("-", d)) => (-1, d),
        _ => return Err(bad()),
    };
    if digits.len() != 4 || !(1..=12).contains(mo) || !(1..=31).contains(da) {
        return Err(bad());
    }
    let off: i64 = digits.parse().map_err(|_| bad())?;
    let offset_secs = sign * ((off / 100) * 3600 + (off % 100) * 60);
    let month = u32::try_from(*mo).map_err(|_| bad())?;
    let day = u32::try_from(*da).map_err(|_| bad())?;
    let days = days_from_civil(*y, month, day);
    Ok(days * 86_400 + h * 3600 + mi * 60 + se - offset_secs)
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
        // The server takes Unix seconds (SPIRE's takes the formatted date).
        let by_expires_before = match self.expires_before.as_deref() {
            None | Some("") => String::new(),
            Some(s) => parse_expires_before(s)?.to_string(),
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

    #[test]
    fn go_layout() {
        assert_eq!(
            parse_expires_before("2024-01-01 12:00:00 +0000 UTC").ok(),
            Some(1_704_110_400)
        );
        assert_eq!(
            parse_expires_before("2024-01-01 12:00:00 -0700 -07").ok(),
            Some(1_704_110_400 + 7 * 3600)
        );
        assert_eq!(parse_expires_before("1704110400").ok(), Some(1_704_110_400));
        assert!(parse_expires_before("yesterday").is_err());
        assert_eq!(tri_state(Some("true")), Some(true));
        assert_eq!(tri_state(Some("all")), None);
    }
}
