//! SPIRE's agent blocks (18-character label column).

use std::fmt::Write;

use spiffe_proto::spire::api::types as pb;

use crate::cli::flags::id_string;
use crate::cli::gotime;

/// One agent, ending with an empty line. SPIRE prints the expiry in the local time zone; this
/// prints it in UTC.
pub(crate) fn agent_block(a: &pb::Agent) -> String {
    let mut s = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{label:<18}: {value}");
    };
    line("SPIFFE ID", &id_string(a.id.as_ref()));
    line("Attestation type", &a.attestation_type);
    line(
        "Expiration time",
        &gotime::utc_string(a.x509svid_expires_at),
    );
    if a.banned {
        line("Banned", &true);
    } else {
        line("Serial number", &a.x509svid_serial_number);
    }
    line("Can re-attest", &a.can_reattest);
    if !a.agent_version.is_empty() {
        line("Agent version", &a.agent_version);
    }
    s.push('\n');
    s
}

/// `agent list`: `No attested agents found`, or `Found N attested agents:` and the blocks.
pub(crate) fn agents_listing(agents: &[pb::Agent]) -> String {
    if agents.is_empty() {
        return "No attested agents found\n".into();
    }
    let noun = if agents.len() == 1 { "agent" } else { "agents" };
    let mut s = format!("Found {} attested {noun}:\n\n", agents.len());
    for a in agents {
        s.push_str(&agent_block(a));
    }
    s
}

/// `agent show`: the header, the block, then the selectors.
pub(crate) fn agent_details(a: &pb::Agent) -> String {
    let mut s = String::from("Found an attested agent given its SPIFFE ID\n\n");
    s.push_str(&agent_block(a));
    for sel in &a.selectors {
        let _ = writeln!(s, "{:<18}: {}:{}", "Selectors", sel.r#type, sel.value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let a = pb::Agent {
            id: Some(pb::Spiffeid {
                trust_domain: "example.org".into(),
                path: "/spire/agent/join_token/t".into(),
            }),
            attestation_type: "join_token".into(),
            x509svid_serial_number: "1234".into(),
            x509svid_expires_at: 1_704_110_400,
            selectors: vec![pb::Selector {
                r#type: "spiffe_id".into(),
                value: "x".into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            agents_listing(std::slice::from_ref(&a)),
            "Found 1 attested agent:\n\n\
             SPIFFE ID         : spiffe://example.org/spire/agent/join_token/t\n\
             Attestation type  : join_token\n\
             Expiration time   : 2024-01-01 12:00:00 +0000 UTC\n\
             Serial number     : 1234\n\
             Can re-attest     : false\n\n"
        );
        assert!(agent_details(&a).ends_with("\nSelectors         : spiffe_id:x\n"));
        assert_eq!(agents_listing(&[]), "No attested agents found\n");
    }
}
