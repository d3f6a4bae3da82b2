//! A real server on a temp directory, and clients for it: admin over the UNIX socket, agent over
//! TCP with TLS (attesting with a join token like a real agent does, through
//! `spiffe_testkit::grpc`).

use std::path::PathBuf;

use rcgen::KeyPair;
use spiffe_core::{BundleSet, TrustDomain, X509Svid};
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_server::client::admin_channel;
use spiffe_server::{RunningServer, ServerConfig};
use spiffe_testkit::grpc;
use tonic::transport::Channel;

pub const TD: &str = "example.org";

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

pub fn config(dir: &std::path::Path, datastore: Option<String>) -> ServerConfig {
    let mut c = ServerConfig::new(TrustDomain::parse(TD).unwrap(), dir.join("data"));
    c.bind_address = "127.0.0.1:0".parse().unwrap();
    c.socket_path = dir.join("admin").join("api.sock");
    c.datastore = datastore;
    c.rotation_interval = std::time::Duration::from_millis(500);
    c
}

impl TestServer {
    pub async fn start(datastore: Option<String>) -> TestServer {
        Self::start_with(datastore, |_| {}).await
    }

    /// A server with `adjust` applied to the test configuration.
    pub async fn start_with(
        datastore: Option<String>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), datastore);
        adjust(&mut c);
        let socket = c.socket_path.clone();
        let server = spiffe_server::start(c).await.unwrap();
        TestServer {
            server,
            dir,
            socket,
        }
    }

    pub fn admin(&self) -> Channel {
        admin_channel(&self.socket).unwrap()
    }

    pub fn entries(&self) -> EntryClient<Channel> {
        EntryClient::new(self.admin())
    }

    pub fn agents(&self) -> AgentClient<Channel> {
        AgentClient::new(self.admin())
    }

    pub async fn bundle_set(&self) -> BundleSet {
        grpc::bundle_set(&self.admin()).await.unwrap()
    }

    pub fn agent_address(&self) -> String {
        self.server.agent_address.to_string()
    }

    pub async fn join_token(&self) -> String {
        grpc::join_token(&self.admin()).await.unwrap()
    }
}

/// The test trust domain.
pub fn td() -> TrustDomain {
    TrustDomain::parse(TD).unwrap()
}

/// A CSR and its key.
pub fn csr() -> (Vec<u8>, KeyPair) {
    grpc::csr(&[]).unwrap()
}

/// Attests with a join token, like an agent; returns the agent SVID.
pub async fn attest(
    address: &str,
    bundles: &BundleSet,
    token: &str,
) -> Result<X509Svid, tonic::Status> {
    grpc::attest_join_token(anonymous(address, bundles), token).await
}

/// A channel to the agent API that presents no certificate.
pub fn anonymous(address: &str, bundles: &BundleSet) -> Channel {
    grpc::anonymous_channel(address, &td(), bundles).unwrap()
}

/// A channel authenticated as the agent holding `svid`.
pub fn agent_channel(address: &str, bundles: &BundleSet, svid: X509Svid) -> Channel {
    grpc::agent_channel(address, &td(), bundles, svid).unwrap()
}
