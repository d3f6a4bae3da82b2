use std::collections::BTreeMap;

use super::*;

fn data() -> Value {
    let labels: BTreeMap<String, String> = [("app", "payment-service"), ("tier", "web")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Value::Struct(
        Struct::new("main.data")
            .field("Name", "pod-1")
            .field("Labels", labels)
            .field("Count", 3i64)
            .field("Flag", true)
            .field("Empty", BTreeMap::new())
            .field("Nothing", Value::Nil)
            .field(
                "Inner",
                Struct::new("main.inner").field("A", "a").field("B", "b"),
            ),
    )
}

fn ok(src: &str) -> String {
    match render(src, &data()) {
        Ok(s) => s,
        Err(e) => panic!("{src:?}: {e}"),
    }
}

fn parse_err(src: &str) -> ParseError {
    match Template::parse(src) {
        Err(e) => e,
        Ok(_) => panic!("{src:?} parsed"),
    }
}

fn exec_err(src: &str) -> ExecError {
    match Template::parse(src).map(|t| t.render(&data())) {
        Ok(Err(e)) => e,
        other => panic!("{src:?}: {other:?}"),
    }
}

#[test]
fn text_and_fields() {
    let cases = [
        ("plain text", "plain text"),
        ("", ""),
        ("{{ .Name }}", "pod-1"),
        ("{{.Name}}", "pod-1"),
        ("a/{{ .Name }}/b", "a/pod-1/b"),
        ("{{ .Inner.A }}{{ .Inner.B }}", "ab"),
        ("{{ $.Inner.B }}", "b"),
        ("{{ .Count }}", "3"),
        ("{{ .Flag }}", "true"),
        ("{{ .Labels.app }}", "payment-service"),
        ("{{ .Labels.missing }}", "<no value>"),
        ("{{ .Labels }}", "map[app:payment-service tier:web]"),
        ("{{ .Empty }}", "map[]"),
        ("{{ .Inner }}", "{a b}"),
        ("{{ .Nothing }}", "<nil>"),
        ("{{ \"lit\" }}", "lit"),
        ("{{ `raw\\n` }}", "raw\\n"),
        ("{{ \"tab\\there\\x41\\u00e9\" }}", "tab\there\u{41}\u{e9}"),
        ("{{ 42 }}", "42"),
        ("{{ -7 }}", "-7"),
        ("{{ nil }}", "<nil>"),
        ("{{ false }}", "false"),
        ("{{ ( .Inner ).A }}", "a"),
        ("{{/* a comment */}}x", "x"),
        ("a {{- /* trimmed */ -}} b", "ab"),
        ("a  {{- .Name }}  b", "apod-1  b"),
        ("a  {{ .Name -}}  b", "a  pod-1b"),
        ("{{ \"}}\" }}", "}}"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src:?}");
    }
}

#[test]
fn functions_and_pipelines() {
    let cases = [
        ("{{ index .Labels \"app\" }}", "payment-service"),
        ("{{ index .Labels \"nope\" }}", ""),
        ("{{ index .Empty \"nope\" }}", ""),
        ("{{ index .Labels }}", "map[app:payment-service tier:web]"),
        ("{{ len .Labels }}", "2"),
        ("{{ len .Name }}", "5"),
        ("{{ print .Name \"-\" .Count }}", "pod-1-3"),
        ("{{ print 1 2 }}", "1 2"),
        ("{{ println .Name .Count }}", "pod-1 3\n"),
        (
            "{{ printf \"%s.%s.svc\" .Name .Labels.tier }}",
            "pod-1.web.svc",
        ),
        ("{{ printf \"%d%%\" .Count }}", "3%"),
        ("{{ printf \"%q\" .Name }}", "\"pod-1\""),
        ("{{ printf \"%v\" .Flag }}", "true"),
        ("{{ .Name | printf \"%s-x\" }}", "pod-1-x"),
        ("{{ \"app\" | index .Labels }}", "payment-service"),
        ("{{ .Labels | len | printf \"%d labels\" }}", "2 labels"),
        ("{{ printf \"%s\" (index .Labels \"tier\") }}", "web"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src:?}");
    }
}

#[test]
fn parse_errors_are_typed() {
    assert_eq!(
        parse_err("a {{ .Name"),
        ParseError::UnclosedAction { offset: 2 }
    );
    assert_eq!(
        parse_err("{{/* x }}"),
        ParseError::UnclosedComment { offset: 2 }
    );
    assert!(matches!(
        parse_err("{{/* x */ .Name }}"),
        ParseError::CommentNotAlone { .. }
    ));
    assert!(matches!(
        parse_err("{{ \"abc }}"),
        ParseError::UnterminatedString { .. }
    ));
    assert!(matches!(
        parse_err("{{ `abc }}"),
        ParseError::UnterminatedString { .. }
    ));
    assert!(matches!(
        parse_err("{{ \"\\q\" }}"),
        ParseError::BadEscape { .. }
    ));
    assert!(matches!(
        parse_err("{{ # }}"),
        ParseError::UnexpectedChar { found: '#', .. }
    ));
    assert!(matches!(
        parse_err("{{ }}"),
        ParseError::EmptyCommand { .. }
    ));
    assert!(matches!(
        parse_err("{{ .Name | }}"),
        ParseError::EmptyCommand { .. }
    ));
    assert!(matches!(
        parse_err("{{ (.Name }}"),
        ParseError::UnbalancedParen { .. }
    ));
    assert!(matches!(
        parse_err("{{ .Name) }}"),
        ParseError::UnbalancedParen { .. }
    ));
    assert_eq!(
        parse_err("{{ lower .Name }}"),
        ParseError::UnknownFunction {
            offset: 3,
            name: "lower".into()
        }
    );
    for src in [
        "{{ if .Flag }}x{{ end }}",
        "{{ range .Labels }}{{ end }}",
        "{{ $x := .Name }}",
        "{{ $x }}",
        "{{ eq .Name \"a\" }}",
    ] {
        assert!(
            matches!(parse_err(src), ParseError::Unsupported { .. }),
            "{src}"
        );
    }
    assert!(matches!(
        parse_err("{{ .Name \"x\" }}"),
        ParseError::ArgumentToNonFunction { .. }
    ));
    assert!(matches!(
        parse_err("{{ .Name | .Count }}"),
        ParseError::NotExecutable { stage: 2, .. }
    ));
    assert!(matches!(
        parse_err("{{ 12abc }}"),
        ParseError::BadNumber { .. }
    ));
    assert!(matches!(
        parse_err("{{ print index }}"),
        ParseError::Unsupported { .. }
    ));
}

#[test]
fn exec_errors_are_typed() {
    assert_eq!(
        exec_err("{{ .Nope }}"),
        ExecError::NoField {
            field: "Nope".into(),
            type_name: "main.data".into()
        }
    );
    assert_eq!(
        exec_err("{{ .Name.First }}"),
        ExecError::NoField {
            field: "First".into(),
            type_name: "string".into()
        }
    );
    assert!(matches!(
        exec_err("{{ .Nothing.X }}"),
        ExecError::NilPointer { .. }
    ));
    assert!(matches!(
        exec_err("{{ .Labels.missing.X }}"),
        ExecError::NilPointer { .. }
    ));
    assert!(matches!(
        exec_err("{{ index .Name \"x\" }}"),
        ExecError::NotIndexable { .. }
    ));
    assert!(matches!(
        exec_err("{{ index .Inner \"x\" }}"),
        ExecError::NotIndexable { .. }
    ));
    assert!(matches!(
        exec_err("{{ index .Labels 1 }}"),
        ExecError::IndexKey { .. }
    ));
    assert!(matches!(
        exec_err("{{ len .Count }}"),
        ExecError::NoLen { .. }
    ));
    assert!(matches!(
        exec_err("{{ len .Name .Name }}"),
        ExecError::WrongArgCount {
            function: "len",
            ..
        }
    ));
    assert!(matches!(
        exec_err("{{ printf 1 }}"),
        ExecError::FormatNotString { .. }
    ));
    assert!(matches!(
        exec_err("{{ printf \"%s %s\" .Name }}"),
        ExecError::BadFormat { .. }
    ));
    assert!(matches!(
        exec_err("{{ printf \"%s\" .Name .Name }}"),
        ExecError::BadFormat { .. }
    ));
    assert!(matches!(
        exec_err("{{ printf \"%x\" .Name }}"),
        ExecError::BadFormat { .. }
    ));
    assert!(matches!(
        exec_err("{{ printf \"%d\" .Name }}"),
        ExecError::BadFormat { .. }
    ));
    let e = TemplateError::from(exec_err("{{ .Nope }}"));
    assert_eq!(
        e.to_string(),
        "executing template: can't evaluate field Nope in type main.data"
    );
}

#[test]
fn never_panics_on_odd_input() {
    for src in [
        "{{",
        "}}",
        "{{-",
        "{{- ",
        "{{ -}}",
        "{{- -}}",
        "{{\"",
        "{{`",
        "{{ $",
        "{{ .",
        "{{ (",
        "{{ ) }}",
        "{{ \"\\x4\" }}",
        "{{ \"\\u12\" }}",
        "{{ é }}",
        "{{ .é }}",
        "{{{{}}}}",
        "{{ 99999999999999999999 }}",
        "{{/*",
        "{{/**/",
        "{{ :}}",
        "é{{ .Name }}é",
    ] {
        let _ = render(src, &data());
    }
    assert_eq!(ok("é{{ .Name }}é"), "épod-1é");
    assert!(matches!(exec_err("{{ .é }}"), ExecError::NoField { .. }));
}
