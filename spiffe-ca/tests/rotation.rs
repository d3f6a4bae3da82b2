//! The rollover timeline on an injected clock (no sleeping), manual rotation steps, and a
//! restart from disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_ca::keys::Signer as _;
use spiffe_ca::{
    AuthorityKind, AuthorityStatus, CaConfig, CaError, CaKeyType, CertificateAuthority,
    DiskKeyManager, JwtSvidParams, ManualClock, MemoryKeyManager, RotationError, SlotId,
    SoftSigner, X509SvidParams,
};
use spiffe_core::jwt::Validation;
use spiffe_core::x509::{Usage, verify_chain_with};
use spiffe_core::{BundleSet, JwtSvid, SpiffeId, TrustDomain};

const ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";
const START: u64 = 1_800_000_000;

fn config(ca_ttl: u64) -> CaConfig {
    let mut c = CaConfig::new(TrustDomain::parse("example.org").unwrap());
    c.ca_ttl = Duration::from_secs(ca_ttl);
    c
}

fn set(ca: &CertificateAuthority) -> BundleSet {
    let mut s = BundleSet::new();
    s.insert_shared(ca.bundle());
    s
}

fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

struct Minted {
    chain: Vec<CertificateDer<'static>>,
    token: String,
    expires: u64,
}

#[test]
fn an_svid_minted_just_before_verifies_with_a_bundle_fetched_just_after() {
    // CA lifetime 6 h, SVIDs of 1 h, the clock stepping a minute at a time through three CA
    // lifetimes. At every step, every SVID minted so far that has not expired must verify
    // against the bundle fetched after the rotation step.
    let ca_ttl = 6 * 3600;
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
    let ca = CertificateAuthority::new(
        config(ca_ttl),
        Arc::new(MemoryKeyManager::new()),
        clock.clone(),
    )
    .unwrap();
    let key = SoftSigner::generate(CaKeyType::EcP256).unwrap();
    let id = SpiffeId::parse(ID).unwrap();
    let mut minted: Vec<Minted> = Vec::new();
    let mut activations = 0;
    let mut last_sequence = ca.bundle().sequence().unwrap();
    let mut now = START;

    while now < START + 3 * ca_ttl {
        // Mint with the authority active just before the rotation step...
        let chain = ca
            .mint_x509_svid(
                key.public_key(),
                &X509SvidParams {
                    spiffe_id: id.clone(),
                    ttl: Duration::from_secs(3600),
                    dns_names: Vec::new(),
                },
            )
            .unwrap();
        let token = ca
            .mint_jwt_svid(&JwtSvidParams {
                spiffe_id: id.clone(),
                audience: vec!["payments".into()],
                ttl: Duration::from_secs(3600),
                issuer: None,
                with_jti: false,
            })
            .unwrap();
        let expires = spiffe_core::x509::CertificateInfo::parse(&chain[0])
            .unwrap()
            .not_after as u64;
        minted.push(Minted {
            chain,
            token,
            expires,
        });

        // ...then time moves and the rotation runs...
        now += 60;
        clock.set(UNIX_EPOCH + Duration::from_secs(now));
        let report = ca.rotate().unwrap();
        activations += report.x509_activated.len();
        let bundle = ca.bundle();
        let sequence = bundle.sequence().unwrap();
        assert_eq!(report.bundle_changed, sequence != last_sequence);
        assert!(sequence >= last_sequence, "sequence never goes back");
        last_sequence = sequence;

        // ...and a prepared authority is in the bundle before it signs anything.
        let published: Vec<String> = bundle
            .x509()
            .authorities()
            .iter()
            .map(|c| {
                let skid = spiffe_core::x509::CertificateInfo::parse(c)
                    .unwrap()
                    .subject_key_id
                    .unwrap();
                skid.iter().map(|b| format!("{b:02x}")).collect()
            })
            .collect();
        for a in ca.x509_authorities() {
            if a.status == Some(AuthorityStatus::Prepared) {
                assert!(published.contains(&a.id), "prepared {} not published", a.id);
                assert_ne!(ca.active_x509().unwrap().id(), a.id);
            }
        }
        for a in ca.jwt_authorities() {
            if a.status == Some(AuthorityStatus::Prepared) {
                assert!(
                    bundle.jwt().find(&a.id).is_some(),
                    "prepared key not published"
                );
            }
        }

        // Every unexpired SVID verifies against the bundle fetched now.
        minted.retain(|m| m.expires > now);
        let bundles = set(&ca);
        let now_time = UNIX_EPOCH + Duration::from_secs(now);
        for m in &minted {
            verify_chain_with(&m.chain, &bundles, at(now), Usage::ClientAuth).unwrap_or_else(|e| {
                panic!("at +{}s an SVID minted earlier failed: {e}", now - START)
            });
            JwtSvid::validate(
                &m.token,
                &bundles,
                &Validation::new(&["payments"]).at(now_time),
            )
            .unwrap_or_else(|e| panic!("at +{}s a JWT-SVID failed: {e}", now - START));
        }
        // Nothing expired stays in the bundle.
        for cert in bundle.x509().authorities() {
            let info = spiffe_core::x509::CertificateInfo::parse(cert).unwrap();
            assert!(
                info.not_after as u64 > now,
                "expired authority still published"
            );
        }
    }
    // Three lifetimes: the first CA, then a rotation every 5/6 of a lifetime.
    assert!(activations >= 3, "only {activations} activations");
}

#[test]
fn manual_prepare_activate_taint_revoke() {
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
    let ca = CertificateAuthority::new(config(86_400), Arc::new(MemoryKeyManager::new()), clock)
        .unwrap();
    let first = ca.active_x509().unwrap().id().to_owned();
    assert_eq!(ca.bundle().x509().authorities().len(), 1);
    let seq = ca.bundle().sequence().unwrap();

    // Only an old authority can be tainted; only a prepared one activated.
    assert!(matches!(
        ca.taint_x509(&first),
        Err(CaError::Rotation(RotationError::NotOld {
            kind: AuthorityKind::X509,
            status: AuthorityStatus::Active,
            ..
        }))
    ));
    assert!(matches!(
        ca.activate_x509(&first),
        Err(CaError::Rotation(RotationError::AlreadyActive { .. }))
    ));
    assert!(matches!(
        ca.activate_x509("nope"),
        Err(CaError::Rotation(RotationError::UnknownAuthority { .. }))
    ));

    let second = ca.prepare_x509().unwrap();
    assert_eq!(ca.bundle().x509().authorities().len(), 2);
    assert!(matches!(
        ca.taint_x509(&second),
        Err(CaError::Rotation(RotationError::NotOld {
            status: AuthorityStatus::Prepared,
            ..
        }))
    ));
    assert_eq!(ca.bundle().sequence().unwrap(), seq + 1);
    // Prepared: published, but the active CA still signs.
    assert_eq!(ca.active_x509().unwrap().id(), first);
    ca.activate_x509(&second).unwrap();
    assert_eq!(ca.active_x509().unwrap().id(), second);
    // The old one is known, but nothing is prepared any more.
    assert!(matches!(
        ca.activate_x509(&first),
        Err(CaError::Rotation(RotationError::NothingPrepared { .. }))
    ));
    let states = ca.x509_authorities();
    assert_eq!(states[0].status, Some(AuthorityStatus::Active));
    assert_eq!(states[1].id, first);
    assert_eq!(states[1].status, Some(AuthorityStatus::Old));
    assert_ne!(states[0].slot, states[1].slot);

    // Revoking needs a taint first; tainting keeps it published; revoking removes it.
    assert!(matches!(
        ca.revoke_x509(&first),
        Err(CaError::Rotation(RotationError::NotTainted { .. }))
    ));
    ca.taint_x509(&first).unwrap();
    assert!(ca.is_x509_tainted(&first));
    assert!(matches!(
        ca.taint_x509(&first),
        Err(CaError::Rotation(RotationError::AlreadyTainted { .. }))
    ));
    assert_eq!(ca.bundle().x509().authorities().len(), 2);
    ca.revoke_x509(&first).unwrap();
    assert_eq!(ca.bundle().x509().authorities().len(), 1);
    assert!(matches!(
        ca.revoke_x509("nope"),
        Err(CaError::Rotation(RotationError::UnknownAuthority {
            kind: AuthorityKind::X509,
            ..
        }))
    ));

    // The same for JWT keys.
    let kid1 = ca.active_jwt().unwrap().key_id().to_owned();
    let kid2 = ca.prepare_jwt().unwrap();
    assert!(ca.bundle().jwt().find(&kid2).is_some());
    // The active key cannot be activated again, and the error names it.
    match ca.activate_jwt(&kid1) {
        Err(CaError::Rotation(RotationError::AlreadyActive { kind, id })) => {
            assert_eq!((kind, id.as_str()), (AuthorityKind::Jwt, kid1.as_str()));
        }
        other => panic!("{other:?}"),
    }
    ca.activate_jwt(&kid2).unwrap();
    assert_eq!(ca.active_jwt().unwrap().key_id(), kid2);
    assert!(matches!(
        ca.taint_jwt(&kid2),
        Err(CaError::Rotation(RotationError::NotOld {
            kind: AuthorityKind::Jwt,
            ..
        }))
    ));
    ca.taint_jwt(&kid1).unwrap();
    ca.revoke_jwt(&kid1).unwrap();
    assert!(ca.bundle().jwt().find(&kid1).is_none());
    assert_eq!(ca.bundle().jwt().len(), 1);
}

#[test]
fn a_restarted_authority_keeps_its_active_ca_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(86_400);
    c.journal_path = Some(dir.path().join("journal.json"));
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let key = SoftSigner::generate(CaKeyType::EcP256).unwrap();
    let params = X509SvidParams {
        spiffe_id: SpiffeId::parse(ID).unwrap(),
        ttl: Duration::from_secs(3600),
        dns_names: Vec::new(),
    };

    let (first_id, first_kid, first_bundle, first_chain) = {
        let keys = Arc::new(DiskKeyManager::open(dir.path().join("keys")).unwrap());
        let ca = CertificateAuthority::new(c, keys, clock.clone()).unwrap();
        let chain = ca.mint_x509_svid(key.public_key(), &params).unwrap();
        (
            ca.active_x509().unwrap().id().to_owned(),
            ca.active_jwt().unwrap().key_id().to_owned(),
            ca.bundle(),
            chain,
        )
    };

    // Files are private.
    for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        let meta = entry.unwrap().metadata().unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let journal_mode = std::fs::metadata(dir.path().join("journal.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(journal_mode & 0o777, 0o600);

    // A new process state over the same directory.
    let mut c = config(86_400);
    c.journal_path = Some(dir.path().join("journal.json"));
    let keys = Arc::new(DiskKeyManager::open(dir.path().join("keys")).unwrap());
    let ca = CertificateAuthority::new(c, keys, clock).unwrap();
    assert_eq!(ca.active_x509().unwrap().id(), first_id);
    assert_eq!(ca.active_jwt().unwrap().key_id(), first_kid);
    assert_eq!(ca.bundle().x509(), first_bundle.x509());
    assert_eq!(ca.bundle().sequence(), first_bundle.sequence());
    // It signs with the same CA: its SVIDs verify against the bundle from before the restart.
    let chain = ca.mint_x509_svid(key.public_key(), &params).unwrap();
    let issuer = |c: &[CertificateDer<'static>]| {
        spiffe_core::x509::CertificateInfo::parse(&c[0])
            .unwrap()
            .authority_key_id
            .unwrap()
    };
    assert_eq!(
        issuer(&chain),
        issuer(&first_chain),
        "signed by the same CA"
    );
    let mut old = BundleSet::new();
    old.insert_shared(first_bundle);
    verify_chain_with(&chain, &old, UnixTime::now(), Usage::ClientAuth).unwrap();
    let slots: Vec<_> = ca.x509_authorities().iter().map(|a| a.slot).collect();
    assert_eq!(slots, [Some(SlotId::A)]);

    // A journal that does not parse is a clear error, not a fresh identity.
    std::fs::write(dir.path().join("journal.json"), b"{ not json").unwrap();
    let mut c = config(86_400);
    c.journal_path = Some(dir.path().join("journal.json"));
    let keys = Arc::new(DiskKeyManager::open(dir.path().join("keys")).unwrap());
    match CertificateAuthority::new(c, keys, Arc::new(ManualClock::new(SystemTime::now()))) {
        Err(CaError::Corrupt { reason, .. }) => assert!(reason.contains("journal"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn activation_names_the_prepared_authority() {
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
    let ca = CertificateAuthority::new(config(86_400), Arc::new(MemoryKeyManager::new()), clock)
        .unwrap();
    let first = ca.active_x509().unwrap().id().to_owned();
    let second = ca.prepare_x509().unwrap();
    ca.activate_x509(&second).unwrap();
    // The third takes the old one's slot; the old one stays published, but is not prepared.
    let third = ca.prepare_x509().unwrap();
    let err = ca.activate_x509(&first).unwrap_err();
    match &err {
        CaError::Rotation(RotationError::NotPrepared { kind, id, prepared }) => {
            assert_eq!(*kind, AuthorityKind::X509);
            assert_eq!(id, &first);
            assert_eq!(prepared, &third);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&third), "{err}");
    assert_eq!(
        ca.x509_authorities()
            .iter()
            .find(|a| a.id == first)
            .map(|a| (a.slot, a.status)),
        Some((None, None))
    );
    ca.activate_x509(&third).unwrap();
}
