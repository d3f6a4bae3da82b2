use super::*;

fn err(input: &str) -> IdError {
    SpiffeId::parse(input).expect_err(input)
}

#[test]
fn valid_ids() {
    for (input, td, path) in [
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://example.org/a", "example.org", "/a"),
        (
            "spiffe://mycompany.com/ns/prod/sa/payment-service",
            "mycompany.com",
            "/ns/prod/sa/payment-service",
        ),
        ("spiffe://a_b-c.d9/A.b_C-9", "a_b-c.d9", "/A.b_C-9"),
        ("spiffe://1.2.3.4/x", "1.2.3.4", "/x"),
        ("spiffe://td/...", "td", "/..."),
        ("spiffe://td/.a/..b", "td", "/.a/..b"),
    ] {
        let id = SpiffeId::parse(input).unwrap();
        assert_eq!(id.as_str(), input);
        assert_eq!(id.trust_domain_name(), td);
        assert_eq!(id.path(), path);
        assert_eq!(id.is_root(), path.is_empty());
        assert_eq!(id.to_string(), input);
        let td = TrustDomain::parse(td).unwrap();
        assert!(id.is_member_of(&td));
    }
}

#[test]
fn strict_parsing_wants_a_lower_case_scheme_and_normalizing_stores_it_lower() {
    // One rule for scheme and trust domain, as go-spiffe's strict parser has it.
    for input in ["SPIFFE://example.org/Path", "SpIfFe://example.org"] {
        assert_eq!(err(input), IdError::WrongScheme { offset: 0 }, "{input}");
        assert!(TrustDomain::parse(input).is_err(), "{input}");
    }
    let id = SpiffeId::parse_normalized("SPIFFE://example.org/Path").unwrap();
    assert_eq!(id.as_str(), "spiffe://example.org/Path");
    let id = SpiffeId::parse_normalized("SpIfFe://Example.org").unwrap();
    assert_eq!(id.as_str(), "spiffe://example.org");
    assert_eq!(
        TrustDomain::parse_normalized("SPIFFE://Example.ORG")
            .unwrap()
            .name(),
        "example.org"
    );
}

#[test]
fn the_trust_domain_of_an_id_with_a_path() {
    let td = TrustDomain::from_id_or_name("spiffe://example.org/ns/prod/sa/payment").unwrap();
    assert_eq!(td.name(), "example.org");
    assert_eq!(
        TrustDomain::from_id_or_name("example.org").unwrap().name(),
        "example.org"
    );
    assert_eq!(
        TrustDomain::from_id_or_name("spiffe://example.org")
            .unwrap()
            .name(),
        "example.org"
    );
    // The plain constructor still refuses a path; bad IDs are refused whole.
    assert!(matches!(
        TrustDomain::parse("spiffe://example.org/path"),
        Err(IdError::UnexpectedPath { .. })
    ));
    assert!(TrustDomain::from_id_or_name("spiffe://example.org/a//b").is_err());
    assert!(TrustDomain::from_id_or_name("spiffe:/example.org").is_err());
    assert!(TrustDomain::from_id_or_name("").is_err());
}

#[test]
fn wrong_scheme() {
    for input in [
        "http://example.org/a",
        "spiffe:/example.org",
        "spiffe:example.org",
        "example.org/a",
        "spiffe",
        "spif",
        " spiffe://example.org",
    ] {
        assert_eq!(err(input), IdError::WrongScheme { offset: 0 }, "{input}");
    }
}

#[test]
fn empty_and_missing_trust_domain() {
    assert_eq!(err(""), IdError::Empty);
    assert_eq!(err("spiffe://"), IdError::MissingTrustDomain { offset: 9 });
    assert_eq!(
        err("spiffe:///path"),
        IdError::MissingTrustDomain { offset: 9 }
    );
}

#[test]
fn upper_case_trust_domain_is_strict_by_default() {
    assert_eq!(
        err("spiffe://Example.org/a"),
        IdError::UppercaseTrustDomain { offset: 9, ch: 'E' }
    );
    assert_eq!(
        TrustDomain::parse("exAmple.org").unwrap_err(),
        IdError::UppercaseTrustDomain { offset: 2, ch: 'A' }
    );
    let id = SpiffeId::parse_normalized("SPIFFE://Example.ORG/Keep/Case").unwrap();
    assert_eq!(id.as_str(), "spiffe://example.org/Keep/Case");
    assert_eq!(
        TrustDomain::parse_normalized("Example.Org").unwrap().name(),
        "example.org"
    );
    assert_eq!(
        TrustDomain::parse_normalized("spiffe://EXAMPLE.org")
            .unwrap()
            .name(),
        "example.org"
    );
    // Normalizing does not loosen any other rule.
    assert_eq!(
        SpiffeId::parse_normalized("spiffe://Ex ample.org").unwrap_err(),
        IdError::BadTrustDomainChar {
            offset: 11,
            ch: ' '
        }
    );
}

#[test]
fn trust_domain_character_classes() {
    for (input, expected) in [
        (
            "spiffe://exa mple.org",
            IdError::BadTrustDomainChar {
                offset: 12,
                ch: ' ',
            },
        ),
        (
            "spiffe://ex!ample.org",
            IdError::BadTrustDomainChar {
                offset: 11,
                ch: '!',
            },
        ),
        (
            "spiffe://exämple.org",
            IdError::BadTrustDomainChar {
                offset: 11,
                ch: 'ä',
            },
        ),
        (
            "spiffe://ex+ample.org",
            IdError::BadTrustDomainChar {
                offset: 11,
                ch: '+',
            },
        ),
        (
            "spiffe://[::1]/a",
            IdError::BadTrustDomainChar { offset: 9, ch: '[' },
        ),
        (
            "spiffe://user@example.org",
            IdError::Userinfo { offset: 13 },
        ),
        ("spiffe://example.org:8080/a", IdError::Port { offset: 20 }),
        (
            "spiffe://example%2Eorg",
            IdError::PercentEncoded { offset: 16 },
        ),
        ("spiffe://example.org?x=1", IdError::Query { offset: 20 }),
        (
            "spiffe://example.org#frag",
            IdError::Fragment { offset: 20 },
        ),
    ] {
        assert_eq!(err(input), expected, "{input}");
        assert_eq!(err(input).offset(), expected.offset());
    }
}

#[test]
fn path_rules() {
    for (input, expected) in [
        ("spiffe://td/", IdError::TrailingSlash { offset: 11 }),
        ("spiffe://td/a/", IdError::TrailingSlash { offset: 13 }),
        ("spiffe://td//a", IdError::EmptySegment { offset: 12 }),
        ("spiffe://td/a//b", IdError::EmptySegment { offset: 14 }),
        ("spiffe://td/.", IdError::DotSegment { offset: 12 }),
        ("spiffe://td/..", IdError::DotSegment { offset: 12 }),
        ("spiffe://td/a/./b", IdError::DotSegment { offset: 14 }),
        ("spiffe://td/a/../b", IdError::DotSegment { offset: 14 }),
        ("spiffe://td/a?q", IdError::Query { offset: 13 }),
        ("spiffe://td/a#f", IdError::Fragment { offset: 13 }),
        ("spiffe://td/a%20b", IdError::PercentEncoded { offset: 13 }),
        (
            "spiffe://td/a b",
            IdError::BadPathChar {
                offset: 13,
                ch: ' ',
            },
        ),
        (
            "spiffe://td/a:b",
            IdError::BadPathChar {
                offset: 13,
                ch: ':',
            },
        ),
        (
            "spiffe://td/a@b",
            IdError::BadPathChar {
                offset: 13,
                ch: '@',
            },
        ),
        (
            "spiffe://td/ü",
            IdError::BadPathChar {
                offset: 12,
                ch: 'ü',
            },
        ),
        (
            "spiffe://td/a\\b",
            IdError::BadPathChar {
                offset: 13,
                ch: '\\',
            },
        ),
    ] {
        assert_eq!(err(input), expected, "{input}");
    }
}

#[test]
fn length_boundaries() {
    // Whole ID: 2048 bytes accepted, 2049 refused.
    let prefix = "spiffe://example.org/";
    let ok = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(ok.len(), 2048);
    assert!(SpiffeId::parse(&ok).is_ok());
    let long = format!("{ok}b");
    assert_eq!(err(&long), IdError::TooLong { len: 2049 });

    // Trust domain: 255 bytes accepted, 256 refused.
    let td255 = "a".repeat(255);
    assert!(TrustDomain::parse(&td255).is_ok());
    assert!(SpiffeId::parse(&format!("spiffe://{td255}/x")).is_ok());
    let td256 = "a".repeat(256);
    assert_eq!(
        TrustDomain::parse(&td256).unwrap_err(),
        IdError::TrustDomainTooLong { len: 256 }
    );
    assert_eq!(
        err(&format!("spiffe://{td256}/x")),
        IdError::TrustDomainTooLong { len: 256 }
    );

    // from_segments applies the same whole-ID limit.
    let td = TrustDomain::parse("example.org").unwrap();
    let seg = "a".repeat(2048 - prefix.len());
    assert!(SpiffeId::from_segments(&td, &[seg.as_str()]).is_ok());
    let seg = "a".repeat(2049 - prefix.len());
    assert_eq!(
        SpiffeId::from_segments(&td, &[seg.as_str()]).unwrap_err(),
        IdError::TooLong { len: 2049 }
    );
}

#[test]
fn trust_domain_parse_forms() {
    assert_eq!(
        TrustDomain::parse("example.org").unwrap().name(),
        "example.org"
    );
    assert_eq!(
        TrustDomain::parse("spiffe://example.org").unwrap().name(),
        "example.org"
    );
    assert_eq!(
        TrustDomain::parse("spiffe://example.org/path").unwrap_err(),
        IdError::UnexpectedPath { offset: 20 }
    );
    assert_eq!(
        TrustDomain::parse("example.org/path").unwrap_err(),
        IdError::UnexpectedPath { offset: 11 }
    );
    assert_eq!(
        TrustDomain::parse("https://example.org").unwrap_err(),
        IdError::WrongScheme { offset: 0 }
    );
    assert_eq!(TrustDomain::parse("").unwrap_err(), IdError::Empty);
    assert_eq!(
        TrustDomain::parse("example.org:443").unwrap_err(),
        IdError::Port { offset: 11 }
    );
    let td = TrustDomain::parse("example.org").unwrap();
    assert_eq!(td.id().as_str(), "spiffe://example.org");
    assert!(td.id().is_root());
}

#[test]
fn from_segments_and_from_path_use_the_same_rules() {
    let td = TrustDomain::parse("example.org").unwrap();
    let id = SpiffeId::from_segments(&td, &["ns", "prod", "sa", "payment"]).unwrap();
    assert_eq!(id.as_str(), "spiffe://example.org/ns/prod/sa/payment");
    assert_eq!(
        id.segments().collect::<Vec<_>>(),
        ["ns", "prod", "sa", "payment"]
    );
    let none: [&str; 0] = [];
    assert!(SpiffeId::from_segments(&td, &none).unwrap().is_root());

    // Offsets point into the ID being built: "spiffe://example.org/" is 21 bytes.
    assert_eq!(
        SpiffeId::from_segments(&td, &["a/b"]).unwrap_err(),
        IdError::BadPathChar {
            offset: 22,
            ch: '/'
        }
    );
    assert_eq!(
        SpiffeId::from_segments(&td, &["ok", ""]).unwrap_err(),
        IdError::EmptySegment { offset: 24 }
    );
    assert_eq!(
        SpiffeId::from_segments(&td, &[".."]).unwrap_err(),
        IdError::DotSegment { offset: 21 }
    );
    assert_eq!(
        SpiffeId::from_segments(&td, &["a%41"]).unwrap_err(),
        IdError::PercentEncoded { offset: 22 }
    );

    assert_eq!(
        SpiffeId::from_path(&td, "/a/b").unwrap().as_str(),
        "spiffe://example.org/a/b"
    );
    assert!(SpiffeId::from_path(&td, "").unwrap().is_root());
    assert_eq!(
        SpiffeId::from_path(&td, "a").unwrap_err(),
        IdError::PathNotAbsolute { offset: 20 }
    );
    assert_eq!(
        SpiffeId::from_path(&td, "/a/").unwrap_err(),
        IdError::TrailingSlash { offset: 22 }
    );
}

#[test]
fn serde_round_trip_applies_the_rules() {
    let id: SpiffeId = serde_json::from_str("\"spiffe://example.org/a\"").unwrap();
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        "\"spiffe://example.org/a\""
    );
    let e = serde_json::from_str::<SpiffeId>("\"spiffe://example.org/a/\"").unwrap_err();
    assert!(e.to_string().contains("must not end with '/'"), "{e}");
    let e = serde_json::from_str::<SpiffeId>("\"spiffe://Example.org\"").unwrap_err();
    assert!(e.to_string().contains("lower case"), "{e}");
    let td: TrustDomain = serde_json::from_str("\"example.org\"").unwrap();
    assert_eq!(serde_json::to_string(&td).unwrap(), "\"example.org\"");
    assert!(serde_json::from_str::<TrustDomain>("\"exa mple\"").is_err());
    assert!(serde_json::from_str::<SpiffeId>("42").is_err());
}

#[test]
fn ordering_hash_and_borrow() {
    use std::collections::{BTreeMap, HashSet};
    let a = SpiffeId::parse("spiffe://a/x").unwrap();
    let b = SpiffeId::parse("spiffe://b/x").unwrap();
    assert!(a < b);
    let set: HashSet<_> = [a.clone(), a.clone(), b.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    let mut map = BTreeMap::new();
    map.insert(TrustDomain::parse("example.org").unwrap(), 1);
    assert_eq!(map.get("example.org"), Some(&1));
    assert!(a == "spiffe://a/x");
}

#[test]
fn error_messages_name_rule_and_offset() {
    let msg = err("spiffe://example.org:8080/a").to_string();
    assert!(msg.contains("port") && msg.contains("20"), "{msg}");
    let msg = err("spiffe://td/a//b").to_string();
    assert!(msg.contains("empty") && msg.contains("14"), "{msg}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = SpiffeId::parse(&s);
            let _ = SpiffeId::parse_normalized(&s);
            let _ = TrustDomain::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_ids(tail in "[a-zA-Z0-9./_%:@?#-]{0,80}") {
            let s = format!("spiffe://{tail}");
            if let Ok(id) = SpiffeId::parse(&s) {
                // What parses round-trips through its string form and every other constructor.
                prop_assert_eq!(SpiffeId::parse(id.as_str()).unwrap(), id.clone());
                let td = id.trust_domain();
                prop_assert_eq!(SpiffeId::from_path(&td, id.path()).unwrap(), id.clone());
                let segs: Vec<&str> = id.segments().collect();
                prop_assert_eq!(SpiffeId::from_segments(&td, &segs).unwrap(), id);
            }
        }

        #[test]
        fn valid_ids_are_accepted(
            td in "[a-z0-9._-]{1,40}",
            segs in proptest::collection::vec("[A-Za-z0-9._-]{1,12}", 0..6),
        ) {
            let segs: Vec<String> = segs.into_iter().filter(|s| s != "." && s != "..").collect();
            let mut s = format!("spiffe://{td}");
            for seg in &segs {
                s.push('/');
                s.push_str(seg);
            }
            let id = SpiffeId::parse(&s).unwrap();
            prop_assert_eq!(id.trust_domain_name(), td.as_str());
            prop_assert_eq!(id.segments().count(), segs.len());
        }
    }
}
