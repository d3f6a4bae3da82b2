//! Certificates and tokens shared by the benches and cost probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use spiffe_core::{Bundle, BundleSet, JwtBundle, Selector, SpiffeId, TrustDomain, X509Bundle};
use spiffe_server::datastore::AttestedNode;
use spiffe_server::entry::Entry;
use spiffe_server::index::Index;

/// A leaf SVID for `id`, under an intermediate, under a root of `example.org`.
pub struct Chain {
    /// Leaf, then intermediate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The root.
    pub root: CertificateDer<'static>,
    /// A bundle set holding the root for `example.org`.
    pub bundles: BundleSet,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.subject_alt_names = vec![SanType::URI("spiffe://example.org".try_into().unwrap())];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p
}

/// Builds root -> intermediate -> leaf(`id`), as a server with an upstream CA issues them.
pub fn chain(id: &str) -> Chain {
    let root_params = ca_params("root");
    let root_key = KeyPair::generate().unwrap();
    let root = root_params.self_signed(&root_key).unwrap().der().clone();
    let inter_params = ca_params("intermediate");
    let inter_key = KeyPair::generate().unwrap();
    let root_issuer = Issuer::from_params(&root_params, &root_key);
    let inter = inter_params
        .signed_by(&inter_key, &root_issuer)
        .unwrap()
        .der()
        .clone();
    let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf_params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
    let leaf_key = KeyPair::generate().unwrap();
    let inter_issuer = Issuer::from_params(&inter_params, &inter_key);
    let leaf = leaf_params
        .signed_by(&leaf_key, &inter_issuer)
        .unwrap()
        .der()
        .clone();
    let td = TrustDomain::parse("example.org").unwrap();
    let bundle = Bundle::from_parts(
        X509Bundle::from_authorities(td.clone(), [root.clone()]).unwrap(),
        JwtBundle::new(td),
    )
    .unwrap();
    Chain {
        chain: vec![leaf, inter],
        root,
        bundles: [bundle].into_iter().collect(),
    }
}

/// Agents in the index fixtures.
pub const AGENTS: usize = 10_000;

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

/// The ID of agent `i` (in cluster `i % 100`).
pub fn agent(i: usize) -> SpiffeId {
    id(&format!(
        "spiffe://example.org/spire/agent/k8s_psat/c{}/node-{i}",
        i % 100
    ))
}

fn node(i: usize) -> AttestedNode {
    AttestedNode {
        spiffe_id: agent(i),
        attestation_type: "k8s_psat".into(),
        serial_number: "1".into(),
        expires_at: 0,
        new_serial_number: String::new(),
        new_expires_at: 0,
        can_reattest: true,
        banned: false,
        selectors: vec![
            Selector::parse(&format!("k8s_psat:cluster:c{}", i % 100)).unwrap(),
            Selector::parse("k8s_psat:agent_sa:spire-agent").unwrap(),
            Selector::parse(&format!("k8s_psat:agent_node_name:node-{i}")).unwrap(),
        ],
        agent_version: String::new(),
        created_at: 0,
    }
}

fn entry(n: usize, spiffe: SpiffeId, parent: SpiffeId, selectors: Vec<Selector>) -> Entry {
    let mut e = Entry::new(spiffe, parent, selectors);
    e.id = format!("e{n:07}");
    e
}

/// An index of [`AGENTS`] agents with `per_agent` entries each (and `levels` of entries below
/// each of those), plus, with `aliases`, 100 node aliases (one per cluster) with 100 entries each.
pub fn build_index(per_agent: usize, aliases: bool, levels: usize) -> Index {
    let mut entries = Vec::new();
    let mut n = 0;
    for a in 0..AGENTS {
        for k in 0..per_agent {
            let spiffe = id(&format!("spiffe://example.org/ns/a{a}/w{k}"));
            entries.push(entry(
                n,
                spiffe.clone(),
                agent(a),
                vec![Selector::parse(&format!("unix:uid:{k}")).unwrap()],
            ));
            n += 1;
            let mut parent = spiffe;
            for l in 0..levels {
                let child = id(&format!("spiffe://example.org/ns/a{a}/w{k}/l{l}"));
                entries.push(entry(
                    n,
                    child.clone(),
                    parent,
                    vec![Selector::parse("unix:uid:9").unwrap()],
                ));
                n += 1;
                parent = child;
            }
        }
    }
    if aliases {
        for c in 0..100 {
            let alias = id(&format!("spiffe://example.org/cluster/c{c}/agents"));
            entries.push(entry(
                n,
                alias.clone(),
                id("spiffe://example.org/spire/server"),
                vec![
                    Selector::parse(&format!("k8s_psat:cluster:c{c}")).unwrap(),
                    Selector::parse("k8s_psat:agent_sa:spire-agent").unwrap(),
                ],
            ));
            n += 1;
            for k in 0..100 {
                entries.push(entry(
                    n,
                    id(&format!("spiffe://example.org/cluster/c{c}/w{k}")),
                    alias.clone(),
                    vec![Selector::parse(&format!("k8s:pod-uid:{c}-{k}")).unwrap()],
                ));
                n += 1;
            }
        }
    }
    Index::build(entries, (0..AGENTS).map(node).collect())
}
