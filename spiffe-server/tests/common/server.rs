//! A real server on a temp directory, and clients for it: admin over the UNIX socket, agent over
//! TCP with TLS (attesting with a join token like a real agent does).

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use spiffe_agent::channel::{agent_tls_config, tls_channel};
use spiffe_core::{BundleSet, PrivateKey, SvidCell, TrustDomain, X509Svid};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::client::admin_channel;
use spiffe_server::convert::bundle_from_pb;
use spiffe_server::{RunningServer, ServerConfig};
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
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), datastore);
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
        let b = BundleClient::new(self.admin())
            .get_bundle(spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest::default())
            .await
            .unwrap()
            .into_inner();
        [bundle_from_pb(&b).unwrap()].into_iter().collect()
    }

    pub fn agent_address(&self) -> String {
        self.server.agent_address.to_string()
    }

    pub async fn join_token(&self) -> String {
        self.agents()
            .create_join_token(agent_api::CreateJoinTokenRequest {
                ttl: 600,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .value
    }
}

/// A CSR and its key.
pub fn csr() -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let csr = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec();
    (csr, key)
}

/// Attests with a join token, like an agent; returns the agent SVID.
pub async fn attest(
    address: &str,
    bundles: &BundleSet,
    token: &str,
) -> Result<X509Svid, tonic::Status> {
    let config = agent_tls_config(
        &TrustDomain::parse(TD).unwrap(),
        Arc::new(bundles.clone()),
        None,
    )
    .unwrap();
    let mut client = AgentClient::new(tls_channel(address, Arc::new(config)).unwrap());
    let (csr, key) = csr();
    let req = agent_api::AttestAgentRequest {
        step: Some(agent_api::attest_agent_request::Step::Params(
            agent_api::attest_agent_request::Params {
                data: Some(pb::AttestationData {
                    r#type: "join_token".into(),
                    payload: token.as_bytes().to_vec(),
                }),
                params: Some(agent_api::AgentX509svidParams { csr }),
            },
        )),
    };
    let mut stream = client
        .attest_agent(futures::stream::iter([req]))
        .await?
        .into_inner();
    let msg = stream.message().await?.expect("a result");
    let Some(agent_api::attest_agent_response::Step::Result(result)) = msg.step else {
        panic!("expected a result")
    };
    let svid = result.svid.unwrap();
    let chain = svid
        .cert_chain
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect();
    Ok(X509Svid::new(
        chain,
        PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    )
    .unwrap())
}

/// A channel authenticated as the agent holding `svid`.
pub fn agent_channel(address: &str, bundles: &BundleSet, svid: X509Svid) -> Channel {
    let config = agent_tls_config(
        &TrustDomain::parse(TD).unwrap(),
        Arc::new(bundles.clone()),
        Some(Arc::new(SvidCell::new(svid))),
    )
    .unwrap();
    tls_channel(address, Arc::new(config)).unwrap()
}
