//! Writing results: stdout and stderr without panics on a closed pipe, JSON the way SPIRE's Go
//! code writes it (sorted keys, `<>&` escaped, compact), and Go's `json.Indent`.

use std::io::Write;

use serde_json::Value;

/// Writes `text` to stdout. A closed pipe (`| head`) is not an error.
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing stdout"))
        }
        _ => Ok(()),
    }
}

/// Writes `text` to stderr (best effort).
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// `value` as Go's `encoding/json` writes a `map[string]any`: compact, object keys sorted,
/// `<`, `>`, `&`, U+2028 and U+2029 escaped; then a newline.
pub fn go_json(value: &Value) -> String {
    let mut s = String::new();
    write_value(value, &mut s);
    s.push('\n');
    s
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_value(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(v, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    let quoted = Value::String(s.to_owned()).to_string();
    for c in quoted.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

/// Go's `json.Indent(dst, src, "", indent)` of compact JSON: one member or element a line,
/// `": "` after keys, empty objects and arrays kept as `{}` and `[]`.
pub fn go_indent(compact: &str, indent: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_and_html_escaped() {
        let v = serde_json::json!({"b": 1, "a": {"z": [], "y": "<&>"}});
        assert_eq!(
            go_json(&v),
            "{\"a\":{\"y\":\"\\u003c\\u0026\\u003e\",\"z\":[]},\"b\":1}\n"
        );
    }

    #[test]
    fn indent_like_go() {
        let s = r#"{"keys":[{"use":"x509-svid","x5c":["AA=="]}],"e":{},"spiffe_sequence":1,"s":"a,b:{"}"#;
        assert_eq!(
            go_indent(s, "    "),
            "{\n    \"keys\": [\n        {\n            \"use\": \"x509-svid\",\n            \"x5c\": [\n                \"AA==\"\n            ]\n        }\n    ],\n    \"e\": {},\n    \"spiffe_sequence\": 1,\n    \"s\": \"a,b:{\"\n}"
        );
    }
}
