use std::collections::BTreeMap;

use super::*;

fn labels() -> BTreeMap<String, String> {
    [("app", "payment-service"), ("tier", "web")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn data() -> Data {
    Data::from(Value::Struct(
        Struct::new("main.data")
            .field("Name", "pod-1")
            .field("Labels", labels())
            .field("Count", 3i64)
            .field("Flag", true)
            .field("Empty", BTreeMap::new())
            .field("NilMap", Value::NilMap)
            .field("NilSlice", Value::NilSlice)
            .field("Items", Value::Slice(vec!["a".into(), "b".into()]))
            .field("Nothing", Value::Pointer(None))
            .field("Zero", Value::Pointer(Some(Box::new(Value::Int(0)))))
            .field(
                "Inner",
                Struct::new("main.inner").field("A", "a").field("B", "b"),
            )
            .field(
                "Ptr",
                Value::Pointer(Some(Box::new(Value::Struct(
                    Struct::new("main.inner").field("A", "pa"),
                )))),
            )
            .field("NilStringer", Value::NilStringer("nil"))
            .field(
                "Port",
                Struct::new("intstr.IntOrString")
                    .field("IntVal", 8080i64)
                    .printed_by_actions_as("8080"),
            )
            .field(
                "When",
                Struct::new("v1.Time").printed_as("2024-05-01 12:00:00 +0000 UTC"),
            )
            .embed(
                "Embedded",
                Struct::new("main.embedded")
                    .field("Promoted", "p")
                    .field("Name", "shadowed"),
            ),
    ))
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
fn fields_print_as_go_prints_them() {
    let cases = [
        ("plain text", "plain text"),
        ("", ""),
        ("\t\t", "\t\t"),
        (" {{/* c */}} {{ define \"x\" }}y{{ end }} ", "   "),
        ("{{ .Name }}", "pod-1"),
        ("a/{{ .Name }}/b", "a/pod-1/b"),
        ("{{ .Inner.A }}{{ .Inner.B }}", "ab"),
        ("{{ $.Inner.B }}", "b"),
        ("{{ .Count }}", "3"),
        ("{{ .Flag }}", "true"),
        ("{{ .Labels.app }}", "payment-service"),
        ("{{ .Labels.missing }}", "<no value>"),
        ("{{ .Labels.missing.deeper }}", "<no value>"),
        ("{{ .Labels }}", "map[app:payment-service tier:web]"),
        ("{{ .Empty }}{{ .NilMap }}{{ .NilSlice }}", "map[]map[][]"),
        ("{{ .Items }}", "[a b]"),
        ("{{ .Inner }}", "{a b}"),
        ("{{ .Nothing }}", "<nil>"),
        ("{{ .Zero }}", "0"),
        ("{{ .Ptr.A }}", "pa"),
        (
            "{{ .Promoted }}{{ .Embedded.Name }}{{ .Name }}",
            "pshadowedpod-1",
        ),
        ("{{ ( .Inner ).A }}", "a"),
        ("{{ with .Inner }}{{ .B }}{{ end }}", "b"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src:?}");
    }
}

#[test]
fn pointers_and_structs_are_true_and_nil_false_as_in_go() {
    let cases = [
        ("{{ if .Zero }}t{{ else }}f{{ end }}", "t"),
        ("{{ if .Nothing }}t{{ else }}f{{ end }}", "f"),
        ("{{ if .Inner }}t{{ else }}f{{ end }}", "t"),
        ("{{ if .Empty }}t{{ else }}f{{ end }}", "f"),
        ("{{ if .Labels.missing }}t{{ else }}f{{ end }}", "f"),
        ("{{ with .Nothing }}t{{ else }}f{{ end }}", "f"),
        ("{{ eq .Nothing .Nothing }}", "true"),
        ("{{ eq .Zero .Zero }}", "true"),
        (
            "{{ eq .NilMap .NilMap }} {{ eq .NilMap .Empty }}",
            "true false",
        ),
        ("{{ eq .Inner .Inner }}", "true"),
        (
            "{{ eq .Labels.missing .Nothing }} {{ eq .Labels.missing \"\" }}",
            "true false",
        ),
        ("{{ eq nil nil }} {{ not .Labels.missing }}", "true true"),
        (
            "{{ and .Labels.missing 1 }} {{ or .Labels.missing 1 }}",
            "<no value> 1",
        ),
        ("{{ .NilStringer }} {{ and .NilStringer 1 }}", "nil nil"),
        (
            "{{ .Port }} {{ print .Port }} {{ printf \"%v\" .Port }}",
            "8080 {8080} {8080}",
        ),
        (
            "{{ .When }} {{ print .When }}",
            "2024-05-01 12:00:00 +0000 UTC 2024-05-01 12:00:00 +0000 UTC",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src:?}");
    }
    assert!(matches!(
        exec_err("{{ len .Zero }}"),
        ExecError::NoLength { .. }
    ));
    assert!(matches!(
        exec_err("{{ .Zero.X }}"),
        ExecError::NoField { .. }
    ));
}

#[test]
fn builtins_follow_go() {
    let cases = [
        ("{{ index .Labels \"app\" }}", "payment-service"),
        ("{{ index .Labels \"nope\" }}", ""),
        ("{{ index .NilMap \"nope\" }}", ""),
        ("{{ index .Items 1 }}", "b"),
        ("{{ index \"abc\" 1 }}", "98"),
        (
            "{{ len .Labels }} {{ len .Name }} {{ len .Items }}",
            "2 5 2",
        ),
        ("{{ slice .Name 1 3 }} {{ slice .Items 1 }}", "od [b]"),
        ("{{ print .Name \"-\" .Count }}", "pod-1-3"),
        ("{{ print 1 2 }}", "1 2"),
        ("{{ println .Name .Count }}", "pod-1 3\n"),
        (
            "{{ printf \"%s.%s.svc\" .Name .Labels.tier }}",
            "pod-1.web.svc",
        ),
        ("{{ printf \"%d%%\" .Count }}", "3%"),
        ("{{ printf \"%s\" }}", "%!s(MISSING)"),
        ("{{ printf \"x\" 1 }}", "x%!(EXTRA int=1)"),
        (
            "{{ printf \"%v %s\" .Nothing .Labels.missing }}",
            "<nil> %!s(<nil>)",
        ),
        ("{{ .Name | printf \"%s-x\" }}", "pod-1-x"),
        ("{{ \"app\" | index .Labels }}", "payment-service"),
        ("{{ .Labels | len | printf \"%d labels\" }}", "2 labels"),
        (
            "{{ html \"<a&b>\" }} {{ urlquery \"a b\" }} {{ js \"'\" }}",
            "&lt;a&amp;b&gt; a+b \\'",
        ),
        (
            "{{ html 1 2 }} [{{ urlquery }}] {{ html .Labels.missing }}",
            "1 2 [] &lt;no value&gt;",
        ),
        (
            "{{ 1e6 }} {{ 1.5 }} {{ print 1.5 2 \"x\" 1e-7 }}",
            "1e+06 1.5 1.5 2x1e-07",
        ),
        (
            "{{ eq .Count 3 }} {{ lt .Count 4 }} {{ ne .Name \"x\" }}",
            "true true true",
        ),
        (
            "{{ and .Flag .Name }} {{ or .Empty \"d\" }} {{ not .Flag }}",
            "pod-1 d false",
        ),
        (
            "{{ range $k, $v := .Labels }}{{ $k }}={{ $v }};{{ end }}",
            "app=payment-service;tier=web;",
        ),
        ("{{ range .NilSlice }}x{{ else }}none{{ end }}", "none"),
        ("{{ range .Zero }}x{{ end }}", ""),
        (
            "{{ range 3 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            "02",
        ),
        ("{{ if 0 }}a{{ else if .Flag }}b{{ else }}c{{ end }}", "b"),
        (
            "{{ define \"t\" }}[{{ .A }}]{{ end }}{{ template \"t\" .Inner }}",
            "[a]",
        ),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ if false }}{{ $y = 2 }}{{ end }}ok", "ok"),
        ("a {{- /* c */ -}} b", "ab"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src:?}");
    }
}

#[test]
fn parse_errors_are_typed() {
    assert!(matches!(parse_err("a {{ .Name"), ParseError::Syntax { .. }));
    assert!(matches!(
        parse_err("{{ 1 | }}x{{"),
        ParseError::Syntax { .. }
    ));
    assert_eq!(
        parse_err("{{ if false }}{{ upper .Name }}{{ end }}"),
        ParseError::UndefinedFunction {
            name: "upper".into()
        }
    );
    assert_eq!(
        parse_err("{{ __field . \"Name\" }}"),
        ParseError::UndefinedFunction {
            name: "__field".into()
        }
    );
    assert_eq!(
        parse_err("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}"),
        ParseError::UndefinedVariable { name: "$y".into() }
    );
    assert_eq!(
        parse_err("{{ range 2 }}{{ else }}{{ break }}{{ end }}"),
        ParseError::OutsideRange { keyword: "break" }
    );
    assert_eq!(
        parse_err("{{ define \"d\" }}{{ continue }}{{ end }}"),
        ParseError::OutsideRange {
            keyword: "continue"
        }
    );
    for unbalanced in [
        "{{ if 1 }}",
        "{{ range 3 }}x{{ else }}",
        "{{ define \"d\" }}x",
        "a{{ end }}b",
        "{{ else }}",
        "x{{ end }}{{ if 1 }}",
    ] {
        assert_eq!(
            parse_err(unbalanced),
            ParseError::Unbalanced,
            "{unbalanced:?}"
        );
    }
    for bad in [
        "{{ index$.Labels \"app\" }}",
        "{{ .Name$ }}",
        "{{ true! }}",
        "{{ .$ }}",
    ] {
        assert!(
            matches!(
                parse_err(bad),
                ParseError::BadCharacter { .. } | ParseError::Syntax { .. }
            ),
            "{bad:?}"
        );
    }
    assert_eq!(ok("{{ .Name}}{{(len .Name)}}{{ $.Name|len }}"), "pod-155");
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(101), ")".repeat(101));
    assert_eq!(parse_err(&deep), ParseError::TooDeep);
    // The probe does not collide with a define named like the template.
    assert_eq!(
        Template::parse_named("t", "{{ define \"t\" }}replaced{{ end }}")
            .unwrap()
            .render(&data())
            .unwrap(),
        "replaced"
    );
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
        exec_err("{{ .Nothing.A }}"),
        ExecError::NilPointer { field: "A".into() }
    );
    assert_eq!(
        exec_err("{{ len .Labels.missing }}"),
        ExecError::InvalidArgument { function: "len" }
    );
    assert_eq!(
        exec_err("{{ $x = 1 }}"),
        ExecError::UndeclaredVariable { name: "$x".into() }
    );
    assert!(matches!(
        exec_err("{{ index .Items 5 }}"),
        ExecError::IndexOutOfRange { index: 5, .. }
    ));
    assert!(matches!(
        exec_err("{{ index .Inner 0 }}"),
        ExecError::NotIndexable { .. }
    ));
    assert!(matches!(
        exec_err("{{ len .Inner }}"),
        ExecError::NoLength { .. }
    ));
    assert!(matches!(
        exec_err("{{ eq .Zero 0 }}"),
        ExecError::Incomparable { .. }
    ));
    assert!(matches!(
        exec_err("{{ range .Inner }}{{ end }}"),
        ExecError::NotIterable { .. }
    ));
    assert!(matches!(
        exec_err("{{ slice \"é\" 0 1 }}"),
        ExecError::SplitsCharacter { low: 0, high: 1 }
    ));
    assert!(matches!(exec_err("{{ nil }}"), ExecError::Engine { .. }));
    assert_eq!(
        exec_err("{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}"),
        ExecError::DepthLimit
    );
    assert!(matches!(
        exec_err("{{ template \"nope\" }}"),
        ExecError::Engine { .. }
    ));
}

#[test]
fn literals_read_as_go_reads_them() {
    let cases = [
        ("{{ \"\\xc3\\xa9\" }}", "é"),
        ("{{ \"\\u00e9\\U0001F600\\101\\x41\\t\\\"\" }}", "é😀AA\t\""),
        ("{{ `raw\\n` }}", "raw\\n"),
        (
            "{{ 'a' }} {{ '\\x41' }} {{ '\\377' }} {{ '\\'' }} {{ 'é' }}",
            "97 65 255 39 233",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src:?}");
    }
    for bad in [
        "{{ \"a\\qb\" }}",
        "{{ \"\\'\" }}",
        "{{ \"\\ud800\" }}",
        "{{ \"\\400\" }}",
        "{{ \"\\xff\" }}",
        "{{ \"\\x4\" }}",
        "{{ \"a\nb\" }}",
        "{{ 'ab' }}",
        "{{ '\\\"' }}",
    ] {
        assert!(
            matches!(
                parse_err(bad),
                ParseError::BadLiteral { .. }
                    | ParseError::Syntax { .. }
                    | ParseError::NotUtf8Literal
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn floats_print_as_go_prints_them() {
    let cases = [
        (1e6, "1e+06"),
        (123_456.0, "123456"),
        (1_234_567.0, "1.234567e+06"),
        (1e20, "1e+20"),
        (1e-4, "0.0001"),
        (1e-5, "1e-05"),
        (-2.5, "-2.5"),
        (100.0, "100"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1.5e-7, "1.5e-07"),
        (1e100, "1e+100"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (f, want) in cases {
        assert_eq!(value::go_float(f), want, "{f}");
    }
}

#[test]
fn a_failed_render_leaves_nothing_for_the_next() {
    let t = Template::parse("{{ .Nope }}").unwrap();
    assert!(t.render(&data()).is_err());
    // The next failure is the engine's own, not the stale field error.
    assert!(matches!(
        Template::parse("{{ template \"x\" }}")
            .unwrap()
            .render(&data()),
        Err(ExecError::Engine { .. })
    ));
}

#[test]
fn never_panics_on_odd_input() {
    let inputs = [
        "{{",
        "}}",
        "{{}}",
        "{{ . }}",
        "{{ .. }}",
        "{{ .a.b.c.d }}",
        "{{ ((((( }}",
        "{{ ))) }}",
        "{{ \"\\",
        "{{ `",
        "{{ |||| }}",
        "{{- -}}",
        "{{-}}",
        "{{ $ }}",
        "{{ $$ }}",
        "{{ index }}",
        "{{ printf \"%",
        "{{ printf \"%v\" . }}",
        "{{ 1e999 }}",
        "{{ 0x }}",
        "{{ '' }}",
        "{{ 'ab' }}",
        "{{ range . }}{{ end }}",
        "{{ template }}",
        "{{ define }}",
        "\u{0}{{\u{0}}}",
        "{{ else if }}",
        "{{ block }}",
    ];
    for src in inputs {
        if let Ok(t) = Template::parse(src) {
            let _ = t.render(&data());
        }
    }
}
