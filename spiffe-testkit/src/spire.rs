//! Configuration files (HCL) of the real SPIRE server and agent, as the interop suite and the
//! comparison benchmarks run them: SQLite, the join token node attestor, the `unix` workload
//! attestor, a memory or disk key manager, P-256 CA keys.

use std::fmt::Write as _;
use std::path::Path;

/// Where SPIRE keeps its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyManager {
    /// In memory (new keys at every start).
    Memory,
    /// On disk under the data directory (`keys.json` for the server, the directory itself
    /// for the agent).
    Disk,
}

/// A `spire-server run -config` file.
#[derive(Debug, Clone)]
pub struct ServerConf<'a> {
    /// The agent and admin API's TCP port (on 127.0.0.1).
    pub port: u16,
    /// The admin socket.
    pub socket: &'a Path,
    /// The trust domain.
    pub trust_domain: &'a str,
    /// The data directory (the SQLite datastore goes there).
    pub data_dir: &'a Path,
    /// `log_level`, when not SPIRE's default.
    pub log_level: Option<&'a str>,
    /// The key manager.
    pub key_manager: KeyManager,
    /// Whether the signing rate limit stays on (SPIRE's default); off for load tests.
    pub signing_rate_limit: bool,
}

/// A `spire-agent run -config` file.
#[derive(Debug, Clone)]
pub struct AgentConf<'a> {
    /// The server's TCP port on 127.0.0.1.
    pub server_port: u16,
    /// The Workload API socket.
    pub socket: &'a Path,
    /// The trust domain.
    pub trust_domain: &'a str,
    /// The data directory.
    pub data_dir: &'a Path,
    /// The bootstrap bundle (PEM).
    pub trust_bundle: &'a Path,
    /// `log_level`, when not SPIRE's default.
    pub log_level: Option<&'a str>,
    /// The key manager.
    pub key_manager: KeyManager,
}

/// `    <kind> "<name>" { plugin_data { k = "v" ... } }`, one setting a line.
fn plugin(out: &mut String, kind: &str, name: &str, data: &[(&str, String)]) {
    let _ = writeln!(out, "    {kind} \"{name}\" {{");
    if data.is_empty() {
        out.push_str("        plugin_data {}\n");
    } else {
        out.push_str("        plugin_data {\n");
        for (k, v) in data {
            let _ = writeln!(out, "            {k} = \"{v}\"");
        }
        out.push_str("        }\n");
    }
    out.push_str("    }\n");
}

/// `    key = "value"` lines of a top-level block.
fn settings(out: &mut String, pairs: &[(&str, String)]) {
    for (k, v) in pairs {
        let _ = writeln!(out, "    {k} = \"{v}\"");
    }
}

impl ServerConf<'_> {
    /// The file's text.
    pub fn render(&self) -> String {
        let data = self.data_dir.display().to_string();
        let mut out = String::from("server {\n");
        let mut pairs = vec![
            ("bind_address", "127.0.0.1".to_owned()),
            ("bind_port", self.port.to_string()),
            ("socket_path", self.socket.display().to_string()),
            ("trust_domain", self.trust_domain.to_owned()),
            ("data_dir", data.clone()),
        ];
        if let Some(level) = self.log_level {
            pairs.push(("log_level", level.to_owned()));
        }
        pairs.push(("ca_key_type", "ec-p256".to_owned()));
        settings(&mut out, &pairs);
        if !self.signing_rate_limit {
            out.push_str("    ratelimit {\n        signing = false\n    }\n");
        }
        out.push_str("}\nplugins {\n");
        plugin(
            &mut out,
            "DataStore",
            "sql",
            &[
                ("database_type", "sqlite3".to_owned()),
                ("connection_string", format!("{data}/datastore.sqlite3")),
            ],
        );
        plugin(&mut out, "NodeAttestor", "join_token", &[]);
        match self.key_manager {
            KeyManager::Memory => plugin(&mut out, "KeyManager", "memory", &[]),
            KeyManager::Disk => plugin(
                &mut out,
                "KeyManager",
                "disk",
                &[("keys_path", format!("{data}/keys.json"))],
            ),
        }
        out.push_str("}\n");
        out
    }
}

impl AgentConf<'_> {
    /// The file's text.
    pub fn render(&self) -> String {
        let data = self.data_dir.display().to_string();
        let mut out = String::from("agent {\n");
        let mut pairs = vec![("data_dir", data.clone())];
        if let Some(level) = self.log_level {
            pairs.push(("log_level", level.to_owned()));
        }
        pairs.extend([
            ("server_address", "127.0.0.1".to_owned()),
            ("server_port", self.server_port.to_string()),
            ("socket_path", self.socket.display().to_string()),
            ("trust_bundle_path", self.trust_bundle.display().to_string()),
            ("trust_domain", self.trust_domain.to_owned()),
        ]);
        settings(&mut out, &pairs);
        out.push_str("}\nplugins {\n");
        plugin(&mut out, "NodeAttestor", "join_token", &[]);
        match self.key_manager {
            KeyManager::Memory => plugin(&mut out, "KeyManager", "memory", &[]),
            KeyManager::Disk => plugin(&mut out, "KeyManager", "disk", &[("directory", data)]),
        }
        plugin(&mut out, "WorkloadAttestor", "unix", &[]);
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server files of the interop suite and of the benchmarks, as they were written out
    /// by hand.
    #[test]
    fn server_file() {
        let conf = ServerConf {
            port: 8081,
            socket: Path::new("/d/private/api.sock"),
            trust_domain: "spire.test",
            data_dir: Path::new("/d/data"),
            log_level: Some("DEBUG"),
            key_manager: KeyManager::Memory,
            signing_rate_limit: true,
        };
        assert_eq!(
            conf.render(),
            r#"server {
    bind_address = "127.0.0.1"
    bind_port = "8081"
    socket_path = "/d/private/api.sock"
    trust_domain = "spire.test"
    data_dir = "/d/data"
    log_level = "DEBUG"
    ca_key_type = "ec-p256"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "/d/data/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
}
"#
        );
        let bench = ServerConf {
            log_level: None,
            key_manager: KeyManager::Disk,
            signing_rate_limit: false,
            ..conf
        };
        assert_eq!(
            bench.render(),
            r#"server {
    bind_address = "127.0.0.1"
    bind_port = "8081"
    socket_path = "/d/private/api.sock"
    trust_domain = "spire.test"
    data_dir = "/d/data"
    ca_key_type = "ec-p256"
    ratelimit {
        signing = false
    }
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "/d/data/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "disk" {
        plugin_data {
            keys_path = "/d/data/keys.json"
        }
    }
}
"#
        );
    }

    /// The agent file of the benchmarks, as it was written out by hand.
    #[test]
    fn agent_file() {
        let conf = AgentConf {
            server_port: 8081,
            socket: Path::new("/a/public/api.sock"),
            trust_domain: "example.org",
            data_dir: Path::new("/a/data"),
            trust_bundle: Path::new("/a/bootstrap.pem"),
            log_level: None,
            key_manager: KeyManager::Disk,
        };
        assert_eq!(
            conf.render(),
            r#"agent {
    data_dir = "/a/data"
    server_address = "127.0.0.1"
    server_port = "8081"
    socket_path = "/a/public/api.sock"
    trust_bundle_path = "/a/bootstrap.pem"
    trust_domain = "example.org"
}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "disk" {
        plugin_data {
            directory = "/a/data"
        }
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
"#
        );
        let suite = AgentConf {
            log_level: Some("DEBUG"),
            key_manager: KeyManager::Memory,
            ..conf
        };
        assert!(suite.render().starts_with(
            "agent {\n    data_dir = \"/a/data\"\n    log_level = \"DEBUG\"\n    server_address"
        ));
        assert!(
            suite
                .render()
                .contains("    KeyManager \"memory\" {\n        plugin_data {}\n    }\n")
        );
    }
}
