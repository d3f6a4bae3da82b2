//! Seeding the fake server from files in the real wire format: YAML (multi-document) or JSON,
//! single objects or `kind: List`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use super::store::{ObjectStore, StoreError};

/// Why a fixture could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not YAML or JSON.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: serde_yaml::Error,
    },
    /// A kind the server does not serve.
    #[error("{path}: no resource type serves apiVersion {api_version:?} kind {kind:?}")]
    UnknownKind {
        /// The file.
        path: String,
        /// `apiVersion`.
        api_version: String,
        /// `kind`.
        kind: String,
    },
    /// The store refused the object.
    #[error("{path}: {source}")]
    Store {
        /// The file.
        path: String,
        /// Why.
        source: StoreError,
    },
}

/// Adds the objects of `text` (named `origin` in errors) to `store`.
pub(crate) fn load_text(
    store: &ObjectStore,
    origin: &str,
    text: &str,
) -> Result<usize, FixtureError> {
    let mut n = 0;
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|source| FixtureError::Parse {
            path: origin.to_owned(),
            source,
        })?;
        n += load_value(store, origin, v)?;
    }
    Ok(n)
}

fn load_value(store: &ObjectStore, origin: &str, v: Value) -> Result<usize, FixtureError> {
    if v.is_null() {
        return Ok(0);
    }
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api_version = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind == "List" || kind.ends_with("List") && v.get("items").is_some() {
        let mut n = 0;
        for item in v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            n += load_value(store, origin, item)?;
        }
        return Ok(n);
    }
    let Some(t) = store.resource_for(&api_version, &kind) else {
        return Err(FixtureError::UnknownKind {
            path: origin.to_owned(),
            api_version,
            kind,
        });
    };
    store.upsert(&t, v).map_err(|source| FixtureError::Store {
        path: origin.to_owned(),
        source,
    })?;
    Ok(1)
}

/// Adds the objects of a file (`.yaml`, `.yml` or `.json`).
pub(crate) fn load_file(store: &ObjectStore, path: &Path) -> Result<usize, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_text(store, &path.display().to_string(), &text)
}

/// Adds the objects of every `.yaml`, `.yml` and `.json` file of a directory, in name order.
pub(crate) fn load_dir(store: &ObjectStore, dir: &Path) -> Result<usize, FixtureError> {
    let io = |source| FixtureError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    let mut n = 0;
    for f in files {
        n += load_file(store, &f)?;
    }
    Ok(n)
}
