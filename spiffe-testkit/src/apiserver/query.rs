//! Label and field selectors as list and watch requests carry them
//! (`labelSelector=app=web,tier!=db,env in (a,b),!legacy`, `fieldSelector=spec.nodeName=n1`).

use serde_json::Value;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector (all requirements must hold).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    reqs: Vec<Req>,
}

/// Splits at commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn values(list: &str) -> Option<Vec<String>> {
    let inner = list.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

impl Query {
    /// Parses a selector; `None` when it is malformed.
    pub fn parse(s: &str) -> Option<Query> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::Ne(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().to_owned(), values(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Req::In(k.trim().to_owned(), values(v)?)
            } else {
                Req::Exists(part.to_owned())
            };
            reqs.push(req);
        }
        Some(Query { reqs })
    }

    /// Whether `lookup` (a key's value, if present) satisfies every requirement.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => lookup(k).as_deref() == Some(v.as_str()),
            Req::Ne(k, v) => lookup(k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => lookup(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => lookup(k).is_none_or(|x| !vs.contains(&x)),
            Req::Exists(k) => lookup(k).is_some(),
            Req::NotExists(k) => lookup(k).is_none(),
        })
    }
}

/// A label of `obj`.
pub(crate) fn label(obj: &Value, key: &str) -> Option<String> {
    obj.pointer("/metadata/labels")?
        .get(key)?
        .as_str()
        .map(str::to_owned)
}

/// A field of `obj` by dotted path (`spec.nodeName`); missing fields read as `""`, as the
/// API server's field selectors do.
pub(crate) fn field(obj: &Value, path: &str) -> Option<String> {
    let mut v = obj;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return Some(String::new()),
        }
    }
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors() {
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web", "env": "a"}},
                         "spec": {"nodeName": "n1"}});
        let l = |q: &str| Query::parse(q).unwrap().matches(|k| label(&pod, k));
        assert!(l("app=web"));
        assert!(l("app==web,env in (a, b)"));
        assert!(!l("app!=web"));
        assert!(l("tier notin (db),!legacy,env"));
        assert!(!l("tier"));
        let f = |q: &str| Query::parse(q).unwrap().matches(|k| field(&pod, k));
        assert!(f("spec.nodeName=n1,metadata.name=p"));
        assert!(!f("spec.nodeName=n2"));
        assert!(f("spec.hostNetwork!=true"));
        assert!(Query::parse("a in b").is_none());
    }
}
