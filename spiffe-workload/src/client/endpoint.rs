//! The address of the Workload Endpoint (SPIFFE_Workload_Endpoint.md 4).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

/// Where the Workload Endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A UNIX domain socket, by absolute path.
    Unix(PathBuf),
    /// A TCP socket, by IP address and port.
    Tcp(SocketAddr),
}

/// Why an endpoint address was refused; each variant names the rule of
/// SPIFFE_Workload_Endpoint.md 4 that it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// An empty address.
    #[error("endpoint address is empty")]
    Empty,
    /// A scheme other than `unix` or `tcp`.
    #[error("endpoint address {address:?}: scheme must be unix or tcp")]
    Scheme {
        /// The address.
        address: String,
    },
    /// A `unix` URI with an authority (`unix://host/path`).
    #[error("endpoint address {address:?}: a unix URI must not have an authority")]
    UnixAuthority {
        /// The address.
        address: String,
    },
    /// A `unix` URI whose path is missing or not absolute.
    #[error("endpoint address {address:?}: a unix URI must have an absolute path")]
    UnixPath {
        /// The address.
        address: String,
    },
    /// A query or fragment, which no endpoint URI may have.
    #[error("endpoint address {address:?}: query and fragment are not allowed")]
    QueryOrFragment {
        /// The address.
        address: String,
    },
    /// A `tcp` URI whose host is not an IP address, or whose port is missing.
    #[error("endpoint address {address:?}: a tcp URI must be tcp://<ip>:<port>")]
    TcpAddress {
        /// The address.
        address: String,
    },
    /// A `tcp` URI with a path, user info or other component.
    #[error("endpoint address {address:?}: a tcp URI must have only a host and a port")]
    TcpExtra {
        /// The address.
        address: String,
    },
}

impl Endpoint {
    /// Parses an address: `unix:///path/to/socket`, `unix:/path/to/socket`, `tcp://127.0.0.1:8000`
    /// (also `tcp:127.0.0.1:8000`), or a plain absolute path (taken as a UNIX socket).
    ///
    /// # Errors
    ///
    /// [`EndpointError`] naming what is wrong with the address (empty, unknown scheme, a `unix`
    /// URI with an authority or a relative path, a query or fragment, a `tcp` address that is not
    /// an IP address and port).
    pub fn parse(address: &str) -> Result<Self, EndpointError> {
        let owned = || address.to_owned();
        if address.is_empty() {
            return Err(EndpointError::Empty);
        }
        if address.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(address)));
        }
        let Some((scheme, rest)) = address.split_once(':') else {
            return Err(EndpointError::Scheme { address: owned() });
        };
        if rest.contains(['?', '#']) {
            return Err(EndpointError::QueryOrFragment { address: owned() });
        }
        match scheme.to_ascii_lowercase().as_str() {
            "unix" => {
                let path = match rest.strip_prefix("//") {
                    Some("") => return Err(EndpointError::UnixPath { address: owned() }),
                    Some(after) => {
                        if !after.starts_with('/') {
                            return Err(EndpointError::UnixAuthority { address: owned() });
                        }
                        after
                    }
                    None => rest,
                };
                if !path.starts_with('/') || path.len() < 2 {
                    return Err(EndpointError::UnixPath { address: owned() });
                }
                Ok(Endpoint::Unix(PathBuf::from(path)))
            }
            "tcp" => {
                let authority = rest.strip_prefix("//").unwrap_or(rest);
                if authority.contains(['/', '@']) {
                    return Err(EndpointError::TcpExtra { address: owned() });
                }
                let addr = SocketAddr::from_str(authority)
                    .map_err(|_| EndpointError::TcpAddress { address: owned() })?;
                Ok(Endpoint::Tcp(addr))
            }
            _ => Err(EndpointError::Scheme { address: owned() }),
        }
    }

    /// The socket path, for a UNIX endpoint.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Endpoint::Unix(path) => Some(path),
            Endpoint::Tcp(_) => None,
        }
    }

    /// The IP address, for a TCP endpoint.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Endpoint::Unix(_) => None,
            Endpoint::Tcp(addr) => Some(addr.ip()),
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let unix = Endpoint::Unix("/run/spire/agent.sock".into());
        assert_eq!(
            Endpoint::parse("unix:///run/spire/agent.sock"),
            Ok(unix.clone())
        );
        assert_eq!(
            Endpoint::parse("unix:/run/spire/agent.sock"),
            Ok(unix.clone())
        );
        assert_eq!(Endpoint::parse("/run/spire/agent.sock"), Ok(unix.clone()));
        assert_eq!(unix.to_string(), "unix:///run/spire/agent.sock");
        let tcp = Endpoint::Tcp("127.0.0.1:8000".parse().unwrap());
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:8000"), Ok(tcp.clone()));
        assert_eq!(Endpoint::parse("tcp:127.0.0.1:8000"), Ok(tcp));
        assert_eq!(
            Endpoint::parse("tcp://[::1]:8000"),
            Ok(Endpoint::Tcp("[::1]:8000".parse().unwrap()))
        );
    }

    #[test]
    fn refused_forms_name_the_rule() {
        use EndpointError as E;
        type Check = fn(&EndpointError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, E::Empty)),
            ("http://x", |e| matches!(e, E::Scheme { .. })),
            ("relative/path", |e| matches!(e, E::Scheme { .. })),
            ("unix://host/path", |e| matches!(e, E::UnixAuthority { .. })),
            ("unix:relative", |e| matches!(e, E::UnixPath { .. })),
            ("unix://", |e| matches!(e, E::UnixPath { .. })),
            ("unix:///a?x=1", |e| matches!(e, E::QueryOrFragment { .. })),
            ("unix:///a#f", |e| matches!(e, E::QueryOrFragment { .. })),
            ("tcp://localhost:80", |e| matches!(e, E::TcpAddress { .. })),
            ("tcp://127.0.0.1", |e| matches!(e, E::TcpAddress { .. })),
            ("tcp://127.0.0.1:8000/foo", |e| {
                matches!(e, E::TcpExtra { .. })
            }),
            ("tcp://u@127.0.0.1:8000", |e| {
                matches!(e, E::TcpExtra { .. })
            }),
        ];
        for (input, check) in cases {
            let e = Endpoint::parse(input).unwrap_err();
            assert!(check(&e), "{input}: {e:?}");
        }
    }
}
