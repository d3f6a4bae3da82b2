//! `helper.conf`: SPIRE's spiffe-helper configuration file, read and checked as spiffe-helper
//! v0.x reads and checks it (its `ValidateConfig`: the same rules, defaults and messages).
//!
//! The file is HCL. It is parsed with `hcl-rs`, which follows HCL 2; spiffe-helper reads HCL 1,
//! where an integer literal with a leading zero is octal (`0644` is 420) and `0x` is
//! hexadecimal. HCL 2 reads `0644` as the decimal 644, so the file modes are taken from the
//! literal's own text, with Go's `strconv.ParseInt(text, 0, 0)` rules ([`parse_go_int`]): `0644`
//! is octal, `644` decimal, `0o644`, `0x1a4` and `0b…` prefixed. A mode given as a string is read
//! the same way, as HCL 1 does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hcl::edit::Span;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Body, Structure};
use nix::sys::signal::Signal;
use serde::Deserialize;
use thiserror::Error;

use crate::cmdargs::{self, CmdArgsError};

/// Where the agent's socket is when neither `agent_address` nor `SPIFFE_ENDPOINT_SOCKET` says.
pub const DEFAULT_AGENT_ADDRESS: &str = "/tmp/spire-agent/public/api.sock";
/// Mode of the SVID and bundle files unless `cert_file_mode` says otherwise.
pub const DEFAULT_CERT_FILE_MODE: u32 = 0o644;
/// Mode of the key file unless `key_file_mode` says otherwise.
pub const DEFAULT_KEY_FILE_MODE: u32 = 0o600;
/// Mode of the JWT bundle file unless `jwt_bundle_file_mode` says otherwise.
pub const DEFAULT_JWT_BUNDLE_FILE_MODE: u32 = 0o600;
/// Mode of the JWT-SVID files unless `jwt_svid_file_mode` says otherwise.
pub const DEFAULT_JWT_SVID_FILE_MODE: u32 = 0o600;
/// Port of the health listener unless `health_checks.bind_port` says otherwise.
pub const DEFAULT_BIND_PORT: u16 = 8081;
/// Liveness path unless `health_checks.liveness_path` says otherwise.
pub const DEFAULT_LIVENESS_PATH: &str = "/live";
/// Readiness path unless `health_checks.readiness_path` says otherwise.
pub const DEFAULT_READINESS_PATH: &str = "/ready";
/// The largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

const TOP_LEVEL_KEYS: &[&str] = &[
    "add_intermediates_to_bundle",
    "agent_address",
    "cmd",
    "cmd_args",
    "pid_file_name",
    "cert_dir",
    "cert_file_mode",
    "key_file_mode",
    "jwt_bundle_file_mode",
    "jwt_svid_file_mode",
    "include_federated_domains",
    "omit_expired",
    "renew_signal",
    "daemon_mode",
    "health_checks",
    "hint",
    "svid_file_name",
    "svid_key_file_name",
    "svid_bundle_file_name",
    "jwt_svids",
    "jwt_bundle_file_name",
];
const JWT_SVID_KEYS: &[&str] = &["jwt_audience", "jwt_extra_audiences", "jwt_svid_file_name"];
const HEALTH_KEYS: &[&str] = &[
    "listener_enabled",
    "bind_port",
    "liveness_path",
    "readiness_path",
];
const MODE_KEYS: [&str; 4] = [
    "cert_file_mode",
    "key_file_mode",
    "jwt_bundle_file_mode",
    "jwt_svid_file_mode",
];

/// Why a configuration was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read {path:?}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<spiffe_fs::FsError>,
    },
    /// The file is not HCL, or a value has the wrong type.
    #[error("failed to parse {path:?}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the line, column or field).
        message: String,
    },
    /// Keys spiffe-helper does not know (a typo, usually), sorted, comma-separated.
    #[error("unknown {place}: {keys}")]
    UnknownKeys {
        /// `top level key(s)`, `key(s) in jwt_svids[1]`, `key(s) in health_checks`.
        place: String,
        /// The keys.
        keys: String,
    },
    /// A file mode is not an integer as HCL 1 reads one.
    #[error("{field}: {value:?} is not an integer (decimal, 0-prefixed octal, 0x hexadecimal)")]
    ModeSyntax {
        /// The key.
        field: &'static str,
        /// What the file says.
        value: String,
    },
    /// A file mode holds bits beyond permissions, setuid, setgid and sticky.
    #[error("{field}: {value:#o} is not a file mode (at most 07777)")]
    ModeRange {
        /// The key.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A rule of spiffe-helper's `ValidateConfig`; the message is spiffe-helper's.
    #[error("{0}")]
    Rule(&'static str),
    /// `renew_signal` names no signal.
    #[error("renew_signal: {value:?} is not a signal name (such as SIGUSR1 or SIGHUP)")]
    Signal {
        /// The value.
        value: String,
    },
    /// `cmd_args` cannot be split into arguments.
    #[error("cmd_args: {0}")]
    CmdArgs(#[from] CmdArgsError),
    /// A field has a value it cannot take (a port above 65535).
    #[error("{field}: {rule}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
}

/// One `jwt_svids` element as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JwtSvidConfig {
    /// The audience asked for.
    pub jwt_audience: String,
    /// More audiences, asked for with the first.
    pub jwt_extra_audiences: Vec<String>,
    /// The file (in `cert_dir`) the token goes to.
    pub jwt_svid_file_name: String,
}

/// `health_checks` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct HealthChecks {
    /// Whether the HTTP health listener runs (daemon mode only).
    pub listener_enabled: bool,
    /// Its port (8081 by default).
    pub bind_port: i64,
    /// The liveness path (`/live` by default).
    pub liveness_path: String,
    /// The readiness path (`/ready` by default).
    pub readiness_path: String,
}

/// The keys of the file that serde reads; the modes are read from the literals' text.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    add_intermediates_to_bundle: bool,
    agent_address: String,
    cmd: String,
    cmd_args: String,
    pid_file_name: String,
    cert_dir: String,
    include_federated_domains: bool,
    omit_expired: bool,
    renew_signal: String,
    daemon_mode: Option<bool>,
    health_checks: HealthChecks,
    hint: String,
    svid_file_name: String,
    svid_key_file_name: String,
    svid_bundle_file_name: String,
    #[serde(deserialize_with = "one_or_many")]
    jwt_svids: Vec<JwtSvidConfig>,
    jwt_bundle_file_name: String,
}

/// `jwt_svids` as a list of objects, or as `jwt_svids { ... }` blocks (one block reads as a
/// map, which HCL 1 also takes for a one-element list).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<JwtSvidConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<JwtSvidConfig>),
        One(JwtSvidConfig),
    }
    match OneOrMany::deserialize(d) {
        Ok(OneOrMany::Many(v)) => Ok(v),
        Ok(OneOrMany::One(one)) => Ok(vec![one]),
        Err(_) => Err(serde::de::Error::custom(
            "jwt_svids must be a list of objects (or jwt_svids blocks) whose jwt_audience and \
             jwt_svid_file_name are strings and jwt_extra_audiences a list of strings",
        )),
    }
}

/// The configuration as the file says it, before [`FileConfig::validate`].
#[derive(Debug, Default)]
pub struct FileConfig {
    raw: RawConfig,
    modes: [Option<i64>; 4],
    unknown: Vec<(String, BTreeSet<String>)>,
}

/// The X.509 files: all three names or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Files {
    /// The SVID (leaf, and intermediates unless they go to the bundle).
    pub svid: String,
    /// The private key (PKCS#8 PEM).
    pub key: String,
    /// The trust bundle.
    pub bundle: String,
}

/// The health listener, when enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The TCP port (every address).
    pub bind_port: u16,
    /// The liveness path.
    pub liveness_path: String,
    /// The readiness path.
    pub readiness_path: String,
}

/// A checked configuration with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Workload API address (a socket path, or `unix:`/`tcp:` URI).
    pub agent_address: String,
    /// Keep the files fresh (true) or write them once and exit.
    pub daemon_mode: bool,
    /// The process to start after the first write and signal (or restart) at each renewal.
    pub cmd: String,
    /// Its arguments, split by spiffe-helper's rules.
    pub cmd_args: Vec<String>,
    /// A file holding the PID of a process to signal at each renewal.
    pub pid_file_name: String,
    /// The signal for `cmd` and the PID file's process.
    pub renew_signal: Option<Signal>,
    /// The directory the files go to (must exist).
    pub cert_dir: PathBuf,
    /// The X.509 files, when enabled.
    pub x509: Option<X509Files>,
    /// Intermediates go to the bundle file instead of the SVID file.
    pub add_intermediates_to_bundle: bool,
    /// The bundle file holds the federated trust domains' CAs too.
    pub include_federated_domains: bool,
    /// Expired CA certificates are left out of the certificate files.
    pub omit_expired: bool,
    /// Pick the SVID with this hint instead of the default one.
    pub hint: Option<String>,
    /// The JWT-SVIDs to keep in files.
    pub jwt_svids: Vec<JwtSvidConfig>,
    /// The JWT bundle file, when enabled.
    pub jwt_bundle_file_name: Option<String>,
    /// Mode of the SVID and bundle files.
    pub cert_file_mode: u32,
    /// Mode of the key file.
    pub key_file_mode: u32,
    /// Mode of the JWT bundle file.
    pub jwt_bundle_file_mode: u32,
    /// Mode of the JWT-SVID files.
    pub jwt_svid_file_mode: u32,
    /// The health listener, when enabled.
    pub health: Option<Health>,
}

impl FileConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] if it cannot be read, [`ConfigError::Parse`] if it is not HCL or a
    /// value has the wrong type.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            spiffe_fs::read::read_to_string_bounded(path, MAX_CONFIG_BYTES).map_err(|source| {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    source: Box::new(source),
                }
            })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the text of a file; the error is the parser's message.
    ///
    /// # Errors
    ///
    /// The parser's message if the text is not HCL or a value has the wrong type.
    pub fn parse(text: &str) -> Result<Self, String> {
        let body: Body = hcl::edit::parser::parse_body(text).map_err(|e| e.to_string())?;
        let mut modes = [None; 4];
        let mut mode_errors = Vec::new();
        for (slot, key) in modes.iter_mut().zip(MODE_KEYS) {
            if let Some(attr) = body.get_attribute(key) {
                match mode_value(text, &attr.value) {
                    Some(v) => *slot = Some(v),
                    None => mode_errors.push(key),
                }
            }
        }
        if let Some(key) = mode_errors.first() {
            let value = body
                .get_attribute(key)
                .and_then(|a| a.value.span())
                .and_then(|r| text.get(r))
                .unwrap_or_default()
                .to_owned();
            return Err(ConfigError::ModeSyntax { field: key, value }.to_string());
        }
        let unknown = unknown_keys(&body);
        let mut body = body;
        // The modes were read above; serde would read `0644` as 644.
        for key in MODE_KEYS {
            while body.remove_attribute(key).is_some() {}
        }
        let plain: hcl::Body = body.into();
        let raw: RawConfig = hcl::from_body(plain).map_err(|e| e.to_string())?;
        Ok(FileConfig {
            raw,
            modes,
            unknown,
        })
    }

    /// The `daemon_mode` of the file, if set.
    pub fn daemon_mode(&self) -> Option<bool> {
        self.raw.daemon_mode
    }

    /// Applies `-daemon-mode` (which wins over the file) and checks the configuration as
    /// spiffe-helper's `ValidateConfig` does, in its order, with its messages; fills in the
    /// defaults (`SPIFFE_ENDPOINT_SOCKET` or `/tmp/spire-agent/public/api.sock`, modes 0644 /
    /// 0600 / 0600 / 0600, port 8081, `/live`, `/ready`). `endpoint_env` is the value of
    /// `SPIFFE_ENDPOINT_SOCKET`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field and the rule.
    pub fn validate(
        self,
        daemon_mode_flag: Option<bool>,
        endpoint_env: Option<String>,
    ) -> Result<Config, ConfigError> {
        let FileConfig {
            raw,
            modes,
            unknown,
        } = self;
        if let Some((place, keys)) = unknown.into_iter().next() {
            return Err(ConfigError::UnknownKeys {
                place,
                keys: keys.into_iter().collect::<Vec<_>>().join(","),
            });
        }
        for jwt in &raw.jwt_svids {
            if jwt.jwt_svid_file_name.is_empty() {
                return Err(ConfigError::Rule(
                    "'jwt_svid_file_name' is required in 'jwt_svids'",
                ));
            }
            if jwt.jwt_audience.is_empty() {
                return Err(ConfigError::Rule(
                    "'jwt_audience' is required in 'jwt_svids'",
                ));
            }
        }
        let agent_address = if raw.agent_address.is_empty() {
            endpoint_env
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_AGENT_ADDRESS.to_owned())
        } else {
            raw.agent_address
        };
        let daemon_mode = daemon_mode_flag.or(raw.daemon_mode).unwrap_or(true);
        if !daemon_mode {
            if !raw.cmd.is_empty() {
                tracing::warn!(
                    cmd = %raw.cmd,
                    "cmd is set but daemon_mode is false. cmd will be ignored"
                );
            }
            if !raw.renew_signal.is_empty() {
                tracing::warn!(
                    renew_signal = %raw.renew_signal,
                    "renew_signal is set but daemon_mode is false. renew_signal will be ignored"
                );
            }
            if !raw.pid_file_name.is_empty() {
                return Err(ConfigError::Rule(
                    "pid_file_name is set but daemon_mode is false. pid_file_name is only supported in daemon_mode",
                ));
            }
        }
        if !raw.pid_file_name.is_empty() && raw.renew_signal.is_empty() {
            return Err(ConfigError::Rule(
                "must specify renew_signal when using pid_file_name",
            ));
        }
        let x509_names = [
            &raw.svid_file_name,
            &raw.svid_key_file_name,
            &raw.svid_bundle_file_name,
        ];
        let empty = x509_names.iter().filter(|n| n.is_empty()).count();
        if empty != 0 && empty != 3 {
            return Err(ConfigError::Rule(
                "all or none of 'svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name' must be specified",
            ));
        }
        let x509 = (empty == 0).then(|| X509Files {
            svid: raw.svid_file_name.clone(),
            key: raw.svid_key_file_name.clone(),
            bundle: raw.svid_bundle_file_name.clone(),
        });
        let jwt_bundle_file_name =
            (!raw.jwt_bundle_file_name.is_empty()).then(|| raw.jwt_bundle_file_name.clone());
        if x509.is_none() && jwt_bundle_file_name.is_none() && raw.jwt_svids.is_empty() {
            return Err(ConfigError::Rule(
                "at least one of the sets ('svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name'), 'jwt_svids', or 'jwt_bundle_file_name' must be fully specified",
            ));
        }
        const POSITIVE: [&str; 4] = [
            "cert file mode must be positive",
            "key file mode must be positive",
            "jwt bundle file mode must be positive",
            "jwt svid file mode must be positive",
        ];
        const DEFAULTS: [u32; 4] = [
            DEFAULT_CERT_FILE_MODE,
            DEFAULT_KEY_FILE_MODE,
            DEFAULT_JWT_BUNDLE_FILE_MODE,
            DEFAULT_JWT_SVID_FILE_MODE,
        ];
        let mut resolved = [0u32; 4];
        for i in 0..4 {
            resolved[i] = match modes[i] {
                Some(v) if v < 0 => return Err(ConfigError::Rule(POSITIVE[i])),
                None | Some(0) => DEFAULTS[i],
                Some(v) => {
                    let v = v.unsigned_abs();
                    u32::try_from(v).ok().filter(|m| *m <= 0o7777).ok_or(
                        ConfigError::ModeRange {
                            field: MODE_KEYS[i],
                            value: v,
                        },
                    )?
                }
            };
        }
        let health = if raw.health_checks.listener_enabled {
            let h = raw.health_checks;
            if h.bind_port < 0 {
                return Err(ConfigError::Rule("bind port must be positive"));
            }
            let bind_port = if h.bind_port == 0 {
                DEFAULT_BIND_PORT
            } else {
                u16::try_from(h.bind_port).map_err(|_| ConfigError::Invalid {
                    field: "health_checks.bind_port",
                    rule: "a TCP port is at most 65535",
                })?
            };
            Some(Health {
                bind_port,
                liveness_path: or_default(h.liveness_path, DEFAULT_LIVENESS_PATH),
                readiness_path: or_default(h.readiness_path, DEFAULT_READINESS_PATH),
            })
        } else {
            None
        };
        // Checked here rather than at the first renewal, where spiffe-helper finds out.
        let renew_signal = if raw.renew_signal.is_empty() {
            None
        } else {
            Some(
                Signal::from_str(&raw.renew_signal).map_err(|_| ConfigError::Signal {
                    value: raw.renew_signal.clone(),
                })?,
            )
        };
        let cmd_args = cmdargs::split(&raw.cmd_args)?;
        let hint = (!raw.hint.is_empty()).then_some(raw.hint);
        Ok(Config {
            agent_address,
            daemon_mode,
            cmd: raw.cmd,
            cmd_args,
            pid_file_name: raw.pid_file_name,
            renew_signal,
            cert_dir: PathBuf::from(raw.cert_dir),
            x509,
            add_intermediates_to_bundle: raw.add_intermediates_to_bundle,
            include_federated_domains: raw.include_federated_domains,
            omit_expired: raw.omit_expired,
            hint,
            jwt_svids: raw.jwt_svids,
            jwt_bundle_file_name,
            cert_file_mode: resolved[0],
            key_file_mode: resolved[1],
            jwt_bundle_file_mode: resolved[2],
            jwt_svid_file_mode: resolved[3],
            health,
        })
    }
}

fn or_default(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_owned()
    } else {
        value
    }
}

/// The value of a mode attribute: an integer literal read from its own text (so `0644` is
/// octal), a negated one, or a string holding one. `None` if it is anything else.
fn mode_value(text: &str, expr: &Expression) -> Option<i64> {
    match expr {
        Expression::Number(_) => {
            let literal = text.get(expr.span()?)?;
            parse_go_int(literal.trim())
        }
        Expression::String(s) => parse_go_int(s.value().trim()),
        Expression::UnaryOp(op) => {
            let literal = text.get(op.expr.span()?)?;
            matches!(op.operator.value(), hcl::edit::expr::UnaryOperator::Neg)
                .then(|| parse_go_int(literal.trim()).map(|v| -v))
                .flatten()
        }
        _ => None,
    }
}

/// Reads an integer as Go's `strconv.ParseInt(s, 0, 64)` does: an optional sign, then `0x`
/// (hexadecimal), `0o` or a bare leading `0` (octal), `0b` (binary) or decimal digits;
/// underscores between digits only after a prefix.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty()
        || (digits.contains('_') && (!prefixed || digits.ends_with('_') || digits.contains("__")))
    {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() {
        return None;
    }
    let magnitude = i64::from_str_radix(&cleaned, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// The keys spiffe-helper does not know, by place, top level first.
fn unknown_keys(body: &Body) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let top: BTreeSet<String> = body
        .iter()
        .map(|s| match s {
            Structure::Attribute(a) => a.key.as_str().to_owned(),
            Structure::Block(b) => b.ident.as_str().to_owned(),
        })
        .filter(|k| !TOP_LEVEL_KEYS.contains(&k.as_str()))
        .collect();
    if !top.is_empty() {
        out.push(("top level key(s)".to_owned(), top));
    }
    if let Some(attr) = body.get_attribute("jwt_svids")
        && let Expression::Array(items) = &attr.value
    {
        for (i, item) in items.iter().enumerate() {
            if let Expression::Object(object) = item {
                let keys: BTreeSet<String> = object
                    .iter()
                    .filter_map(|(k, _)| object_key(k))
                    .filter(|k| !JWT_SVID_KEYS.contains(&k.as_str()))
                    .collect();
                if !keys.is_empty() {
                    out.push((format!("key(s) in jwt_svids[{i}]"), keys));
                }
            }
        }
    }
    for (i, block) in body.get_blocks("jwt_svids").enumerate() {
        let keys: BTreeSet<String> = block
            .body
            .iter()
            .map(|s| match s {
                Structure::Attribute(a) => a.key.as_str().to_owned(),
                Structure::Block(b) => b.ident.as_str().to_owned(),
            })
            .filter(|k| !JWT_SVID_KEYS.contains(&k.as_str()))
            .collect();
        if !keys.is_empty() {
            out.push((format!("key(s) in jwt_svids[{i}]"), keys));
        }
    }
    let mut health_keys = BTreeSet::new();
    for block in body.get_blocks("health_checks") {
        health_keys.extend(
            block
                .body
                .iter()
                .map(|s| match s {
                    Structure::Attribute(a) => a.key.as_str().to_owned(),
                    Structure::Block(b) => b.ident.as_str().to_owned(),
                })
                .filter(|k| !HEALTH_KEYS.contains(&k.as_str())),
        );
    }
    if let Some(attr) = body.get_attribute("health_checks")
        && let Expression::Object(object) = &attr.value
    {
        health_keys.extend(
            object
                .iter()
                .filter_map(|(k, _)| object_key(k))
                .filter(|k| !HEALTH_KEYS.contains(&k.as_str())),
        );
    }
    if !health_keys.is_empty() {
        out.push(("key(s) in health_checks".to_owned(), health_keys));
    }
    out
}

fn object_key(key: &hcl::edit::expr::ObjectKey) -> Option<String> {
    match key {
        hcl::edit::expr::ObjectKey::Ident(ident) => Some(ident.as_str().to_owned()),
        hcl::edit::expr::ObjectKey::Expression(Expression::String(s)) => {
            Some(s.value().to_string())
        }
        hcl::edit::expr::ObjectKey::Expression(Expression::Variable(v)) => {
            Some(v.as_str().to_owned())
        }
        hcl::edit::expr::ObjectKey::Expression(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn valid(text: &str) -> Config {
        FileConfig::parse(text)
            .unwrap_or_else(|e| panic!("parse: {e}"))
            .validate(None, None)
            .unwrap_or_else(|e| panic!("validate: {e}"))
    }

    fn refused(text: &str) -> String {
        match FileConfig::parse(text) {
            Err(e) => e,
            Ok(c) => c.validate(None, None).unwrap_err().to_string(),
        }
    }

    const X509: &str = "svid_file_name = \"svid.pem\"\nsvid_key_file_name = \"key.pem\"\nsvid_bundle_file_name = \"bundle.pem\"\n";

    /// The configuration example of spiffe-helper's README, as printed there.
    const README_EXAMPLE: &str = r#"agent_address = "/tmp/spire-agent/public/api.sock"
cmd = "ghostunnel"
cmd_args = "server --listen localhost:8002 --target localhost:8001 --keystore certs/svid_key.pem --cacert certs/svid_bundle.pem --allow-uri-san spiffe://example.org/Database"
cert_dir = "certs"
renew_signal = "SIGUSR1"
svid_file_name = "svid.pem"
svid_key_file_name = "svid_key.pem"
svid_bundle_file_name = "svid_bundle.pem"
jwt_svids = [{jwt_audience="your-audience",jwt_extra_audiences=["your-extra-audience-1", "your-extra-audience-2"], jwt_svid_file_name="jwt_svid.token"}]
jwt_bundle_file_name = "bundle.json"
cert_file_mode = 0444
key_file_mode = 0444
jwt_bundle_file_mode = 0444
jwt_svid_file_mode = 0444
"#;

    #[test]
    fn the_readme_example_parses_with_octal_modes() {
        let c = valid(README_EXAMPLE);
        assert_eq!(c.agent_address, "/tmp/spire-agent/public/api.sock");
        assert_eq!(c.cmd, "ghostunnel");
        assert_eq!(c.cmd_args.len(), 11);
        assert_eq!(c.cmd_args[0], "server");
        assert_eq!(c.cert_dir, PathBuf::from("certs"));
        assert_eq!(c.renew_signal, Some(Signal::SIGUSR1));
        assert_eq!(
            c.x509,
            Some(X509Files {
                svid: "svid.pem".into(),
                key: "svid_key.pem".into(),
                bundle: "svid_bundle.pem".into(),
            })
        );
        assert_eq!(
            c.jwt_svids,
            [JwtSvidConfig {
                jwt_audience: "your-audience".into(),
                jwt_extra_audiences: vec![
                    "your-extra-audience-1".into(),
                    "your-extra-audience-2".into()
                ],
                jwt_svid_file_name: "jwt_svid.token".into(),
            }]
        );
        assert_eq!(c.jwt_bundle_file_name.as_deref(), Some("bundle.json"));
        // HCL 1 reads 0444 as octal, as spiffe-helper does; HCL 2 alone would say 444.
        assert_eq!(c.cert_file_mode, 0o444);
        assert_eq!(c.key_file_mode, 0o444);
        assert_eq!(c.jwt_bundle_file_mode, 0o444);
        assert_eq!(c.jwt_svid_file_mode, 0o444);
        assert!(c.daemon_mode);
        assert_eq!(c.health, None);
    }

    #[test]
    fn spiffe_helpers_own_test_file_parses_with_decimal_modes() {
        // cmd/spiffe-helper/config/testdata/helper.conf: `444` without a zero is decimal.
        let c = valid(
            r#"agent_address = "/tmp/spire-agent/public/api.sock"
cmd = "hot-restarter.py"
cmd_args = "start_envoy.sh"
cert_dir = "certs"
cert_file_mode = 444
key_file_mode = 444
jwt_bundle_file_mode = 444
jwt_svid_file_mode = 444
renew_signal = "SIGHUP"
svid_file_name = "svid.pem"
svid_key_file_name = "svid_key.pem"
svid_bundle_file_name = "svid_bundle.pem"
jwt_bundle_file_name = "jwt_bundle.json"
jwt_svids = [
  {
    jwt_svid_file_name = "jwt_svid.token"
    jwt_audience = "your-audience"
    jwt_extra_audiences = ["your-extra-audience-1", "your-extra-audience-2"]

  }
]
add_intermediates_to_bundle = true
"#,
        );
        assert_eq!(c.cert_file_mode, 444);
        assert_eq!(c.renew_signal, Some(Signal::SIGHUP));
        assert!(c.add_intermediates_to_bundle);
        assert!(!c.omit_expired);
        assert_eq!(c.jwt_svids[0].jwt_extra_audiences.len(), 2);
    }

    #[test]
    fn modes_follow_go_integer_syntax() {
        assert_eq!(parse_go_int("0644"), Some(0o644));
        assert_eq!(parse_go_int("644"), Some(644));
        assert_eq!(parse_go_int("0o600"), Some(0o600));
        assert_eq!(parse_go_int("0x1a4"), Some(0o644));
        assert_eq!(parse_go_int("0b110100100"), Some(0o644));
        assert_eq!(parse_go_int("0_644"), Some(0o644));
        assert_eq!(parse_go_int("-0600"), Some(-0o600));
        assert_eq!(parse_go_int("0"), Some(0));
        for bad in ["", "08", "6_44", "0x", "0644_", "0x__1", "abc", "0.5"] {
            assert_eq!(parse_go_int(bad), None, "{bad:?}");
        }
        let c = valid(&format!(
            "{X509}cert_file_mode = \"0640\"\nkey_file_mode = 0400\n"
        ));
        assert_eq!(c.cert_file_mode, 0o640);
        assert_eq!(c.key_file_mode, 0o400);
        assert!(refused(&format!("{X509}key_file_mode = 0.5\n")).contains("key_file_mode"));
        assert!(refused(&format!("{X509}key_file_mode = 0999\n")).contains("key_file_mode"));
        assert_eq!(
            refused(&format!("{X509}key_file_mode = -0600\n")),
            "key file mode must be positive"
        );
        assert!(refused(&format!("{X509}cert_file_mode = 0177777\n")).contains("at most 07777"));
    }

    #[test]
    fn defaults_are_spiffe_helpers() {
        let c = valid(X509);
        assert_eq!(c.agent_address, DEFAULT_AGENT_ADDRESS);
        assert_eq!(
            (
                c.cert_file_mode,
                c.key_file_mode,
                c.jwt_bundle_file_mode,
                c.jwt_svid_file_mode
            ),
            (0o644, 0o600, 0o600, 0o600)
        );
        assert!(c.daemon_mode);
        // SPIFFE_ENDPOINT_SOCKET when agent_address is not set.
        let c = FileConfig::parse(X509)
            .unwrap()
            .validate(None, Some("unix:///run/spire/sockets/agent.sock".into()))
            .unwrap();
        assert_eq!(c.agent_address, "unix:///run/spire/sockets/agent.sock");
        // A mode of 0 means the default.
        assert_eq!(
            valid(&format!("{X509}key_file_mode = 0\n")).key_file_mode,
            0o600
        );
    }

    #[test]
    fn the_flag_wins_over_the_file() {
        let file = format!("{X509}daemon_mode = false\n");
        let parsed = FileConfig::parse(&file).unwrap();
        assert_eq!(parsed.daemon_mode(), Some(false));
        assert!(parsed.validate(Some(true), None).unwrap().daemon_mode);
        assert!(!valid(&file).daemon_mode);
        let c = FileConfig::parse(X509)
            .unwrap()
            .validate(Some(false), None)
            .unwrap();
        assert!(!c.daemon_mode);
    }

    #[test]
    fn health_checks_as_a_block_with_defaults() {
        let c = valid(&format!(
            "{X509}health_checks {{\n  listener_enabled = true\n}}\n"
        ));
        assert_eq!(
            c.health,
            Some(Health {
                bind_port: 8081,
                liveness_path: "/live".into(),
                readiness_path: "/ready".into(),
            })
        );
        let c = valid(&format!(
            "{X509}health_checks {{\n  listener_enabled = true\n  bind_port = 9000\n  liveness_path = \"/l\"\n  readiness_path = \"/r\"\n}}\n"
        ));
        assert_eq!(c.health.as_ref().map(|h| h.bind_port), Some(9000));
        assert_eq!(
            c.health.as_ref().map(|h| h.readiness_path.as_str()),
            Some("/r")
        );
        assert_eq!(
            valid(&format!("{X509}health_checks {{\n  bind_port = 9000\n}}\n")).health,
            None
        );
        assert_eq!(
            refused(&format!(
                "{X509}health_checks {{\n  listener_enabled = true\n  bind_port = -1\n}}\n"
            )),
            "bind port must be positive"
        );
    }

    #[test]
    fn unknown_keys_are_named_sorted() {
        assert_eq!(
            refused("agent_address = \"/tmp\"\nfoo = \"bar\"\nbar = \"foo\"\n"),
            "unknown top level key(s): bar,foo"
        );
        assert_eq!(
            refused(
                "cmd = \"echo\"\njwt_svids = [\n  {\n    jwt_audience=\"your-audience\",\n    jwt_svid_file_name=\"jwt_svid.token\",\n    foo = \"bar\",\n    bar = \"foo\"\n  }\n]\n"
            ),
            "unknown key(s) in jwt_svids[0]: bar,foo"
        );
        assert_eq!(
            refused(
                "jwt_svids = [{jwt_audience=\"a\", jwt_svid_file_name=\"a\"}, {jwt_audience=\"b\", jwt_svid_file_name=\"b\", foo=1}]\n"
            ),
            "unknown key(s) in jwt_svids[1]: foo"
        );
        assert_eq!(
            refused(&format!("{X509}health_checks {{\n  listener = true\n}}\n")),
            "unknown key(s) in health_checks: listener"
        );
    }

    #[test]
    fn spiffe_helpers_rules_and_messages() {
        assert_eq!(
            refused("agent_address = \"path\"\n"),
            "at least one of the sets ('svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name'), 'jwt_svids', or 'jwt_bundle_file_name' must be fully specified"
        );
        assert_eq!(
            refused("svid_file_name = \"cert.pem\"\n"),
            "all or none of 'svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name' must be specified"
        );
        assert_eq!(
            refused("jwt_svids = [{jwt_svid_file_name = \"jwt.token\"}]\n"),
            "'jwt_audience' is required in 'jwt_svids'"
        );
        assert_eq!(
            refused("jwt_svids = [{jwt_audience = \"my-audience\"}]\n"),
            "'jwt_svid_file_name' is required in 'jwt_svids'"
        );
        assert_eq!(
            refused("daemon_mode = false\npid_file_name = \"pidfile\"\n"),
            "pid_file_name is set but daemon_mode is false. pid_file_name is only supported in daemon_mode"
        );
        assert_eq!(
            refused("pid_file_name = \"pidfile\"\n"),
            "must specify renew_signal when using pid_file_name"
        );
        // Valid sets.
        valid("jwt_bundle_file_name = \"bundle.json\"\n");
        valid("jwt_svids = [{jwt_audience = \"a\", jwt_svid_file_name = \"jwt.token\"}]\n");
        valid(&format!(
            "{X509}pid_file_name = \"pidfile\"\nrenew_signal = \"SIGHUP\"\n"
        ));
        valid(&format!(
            "{X509}cmd = \"echo\"\nrenew_signal = \"SIGHUP\"\n"
        ));
        // cmd and renew_signal are only warned about in one-shot mode.
        valid(&format!(
            "{X509}daemon_mode = false\ncmd = \"echo\"\nrenew_signal = \"SIGHUP\"\n"
        ));
    }

    #[test]
    fn signals_and_cmd_args_are_checked_up_front() {
        assert!(refused(&format!("{X509}renew_signal = \"USR1\"\n")).contains("renew_signal"));
        assert!(refused(&format!("{X509}renew_signal = \"SIGNOPE\"\n")).contains("SIGNOPE"));
        assert!(refused(&format!("{X509}cmd_args = \"a\\\"b\"\n")).starts_with("cmd_args:"));
        let c = valid(&format!(
            "{X509}cmd = \"sh\"\ncmd_args = \"-c \\\"echo \\\"\\\"hi\\\"\\\"\\\"\"\n"
        ));
        assert_eq!(c.cmd_args, ["-c", "echo \"hi\""]);
    }

    #[test]
    fn hint_and_omit_expired_are_read() {
        let c = valid(&format!(
            "{X509}hint = \"internal\"\nomit_expired = true\ninclude_federated_domains = true\n"
        ));
        assert_eq!(c.hint.as_deref(), Some("internal"));
        assert!(c.omit_expired);
        assert!(c.include_federated_domains);
    }

    #[test]
    fn wrong_types_and_bad_hcl_are_parse_errors() {
        assert!(FileConfig::parse("daemon_mode = \"maybe\"\n").is_err());
        assert!(FileConfig::parse("cert_dir = \n").is_err());
        assert!(FileConfig::parse("jwt_svids = \"x\"\n").is_err());
    }

    #[test]
    fn the_kubernetes_example_of_spiffe_helper_parses() {
        // examples/k8s/helper-no-daemon.yaml's helper.conf.
        let c = valid(
            r#"cmd = ""
cmd_args = ""
cert_dir = ""
renew_signal = ""
svid_file_name = "tls.crt"
svid_key_file_name = "tls.key"
svid_bundle_file_name = "ca.pem"
jwt_bundle_file_name = "cert.jwt"
jwt_svids = [{jwt_audience="test", jwt_svid_file_name="jwt_svid.token"}]
daemon_mode = false
"#,
        );
        assert!(!c.daemon_mode);
        assert_eq!(c.renew_signal, None);
        assert!(c.cmd_args.is_empty());
    }

    #[test]
    fn jwt_svids_as_blocks_and_health_checks_as_an_object() {
        let c =
            valid("jwt_svids {\n  jwt_audience = \"a\"\n  jwt_svid_file_name = \"a.token\"\n}\n");
        assert_eq!(c.jwt_svids.len(), 1);
        assert_eq!(c.jwt_svids[0].jwt_audience, "a");
        let c = valid(
            "jwt_svids {\n  jwt_audience = \"a\"\n  jwt_svid_file_name = \"a.token\"\n}\njwt_svids {\n  jwt_audience = \"b\"\n  jwt_extra_audiences = [\"c\"]\n  jwt_svid_file_name = \"b.token\"\n}\n",
        );
        assert_eq!(c.jwt_svids.len(), 2);
        assert_eq!(c.jwt_svids[1].jwt_extra_audiences, ["c"]);
        assert_eq!(
            refused(
                "jwt_svids {\n  jwt_audience = \"a\"\n  jwt_svid_file_name = \"a\"\n  file = 1\n}\n"
            ),
            "unknown key(s) in jwt_svids[0]: file"
        );
        let c = valid(&format!(
            "{X509}health_checks = {{\n  listener_enabled = true\n  bind_port = 9090\n}}\n"
        ));
        assert_eq!(c.health.map(|h| h.bind_port), Some(9090));
        let err = FileConfig::parse("jwt_svids = \"x\"\n").unwrap_err();
        assert!(err.contains("jwt_svids must be a list of objects"), "{err}");
    }
}

#[cfg(test)]
mod readme {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// The `hcl` example of the workspace README's spiffe-helper section is a valid
    /// configuration and says what the README says.
    #[test]
    fn the_readme_example_is_valid() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("## SVIDs as files: spiffe-helper")
            .nth(1)
            .expect("the README has the section");
        let block = section
            .split("```hcl\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("an hcl block");
        let c = FileConfig::parse(block)
            .unwrap()
            .validate(None, None)
            .unwrap();
        assert_eq!(c.cert_dir, PathBuf::from("/run/spire/credentials"));
        assert_eq!(c.cmd_args, ["-g", "daemon off;"]);
        assert_eq!(c.cert_file_mode, 0o644);
        assert_eq!(c.key_file_mode, 0o600);
        assert_eq!(c.renew_signal, Some(Signal::SIGHUP));
        assert_eq!(c.health.map(|h| h.bind_port), Some(DEFAULT_BIND_PORT));
        assert_eq!(c.jwt_svids[0].jwt_extra_audiences, ["billing"]);
    }

    /// The helper.conf of the Kubernetes example (deploy/examples/payment-service.yaml) is valid
    /// and writes svid.pem, key.pem and bundle.pem to /run/spire/credentials.
    #[test]
    fn the_kubernetes_example_is_valid() {
        let yaml = include_str!("../../../deploy/examples/payment-service.yaml");
        let start =
            yaml.find("helper.conf: |\n").expect("the ConfigMap") + "helper.conf: |\n".len();
        let block: String = yaml[start..]
            .lines()
            .take_while(|l| l.starts_with("    "))
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        let c = FileConfig::parse(&block)
            .unwrap()
            .validate(None, None)
            .unwrap();
        assert_eq!(c.cert_dir, PathBuf::from("/run/spire/credentials"));
        assert_eq!(
            c.x509,
            Some(X509Files {
                svid: "svid.pem".into(),
                key: "key.pem".into(),
                bundle: "bundle.pem".into(),
            })
        );
        assert_eq!(c.agent_address, "/run/spire/sockets/api.sock");
        assert_eq!(
            c.health.map(|h| h.readiness_path),
            Some("/ready".to_owned())
        );
        assert!(c.daemon_mode);
    }
}
