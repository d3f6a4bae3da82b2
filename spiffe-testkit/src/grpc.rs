//! Clients of the server's gRPC APIs for hardening and attestation tests, against an
//! in-process server or a real process alike: messages as raw bytes ([`RawCodec`]), CSRs,
//! attestation as an agent does it (join token or any other payload), the agent API's TLS
//! channels (anonymous or as an agent), and the admin calls they need (bundle, join token).

use std::sync::Arc;

use bytes::{Buf, BufMut};
use rcgen::{CertificateParams, KeyPair, SanType};
use spiffe_agent::channel::{agent_tls_config, tls_channel};
use spiffe_core::{BundleSet, PrivateKey, SvidCell, TrustDomain, X509Svid};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1 as bundle_api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use crate::BoxError;

/// Raw bytes as a gRPC message, both ways: for malformed messages, and for calls whose
/// messages never come.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// A CSR (DER) asking for the URI SANs `uris` (none: the server picks the ID), and its key.
pub fn csr(uris: &[&str]) -> Result<(Vec<u8>, KeyPair), BoxError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = uris
        .iter()
        .map(|u| Ok(SanType::URI((*u).try_into()?)))
        .collect::<Result<_, rcgen::Error>>()?;
    let der = params.serialize_request(&key)?.der().to_vec();
    Ok((der, key))
}

/// The first (and only) message of `AttestAgent`: attestation data of `attestation_type`
/// with `payload`, and the CSR of the agent's SVID.
pub fn attest_request(
    attestation_type: &str,
    payload: Vec<u8>,
    csr: Vec<u8>,
) -> agent_api::AttestAgentRequest {
    agent_api::AttestAgentRequest {
        step: Some(agent_api::attest_agent_request::Step::Params(
            agent_api::attest_agent_request::Params {
                data: Some(pb::AttestationData {
                    r#type: attestation_type.into(),
                    payload,
                }),
                params: Some(agent_api::AgentX509svidParams { csr }),
            },
        )),
    }
}

/// An `AttestAgent` request with a join token.
pub fn join_token_request(token: &str, csr: Vec<u8>) -> agent_api::AttestAgentRequest {
    attest_request("join_token", token.as_bytes().to_vec(), csr)
}

/// The SVID the server minted for the CSR of `key`.
pub fn svid_from(svid: pb::X509svid, key: &KeyPair) -> Result<X509Svid, BoxError> {
    let chain = svid
        .cert_chain
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect();
    Ok(X509Svid::new(
        chain,
        PrivateKey::from_pkcs8_der(&key.serialize_der())?,
    )?)
}

/// Sends `request` as an agent does, on `channel`: the agent SVID (for the CSR of `key`) and
/// whether the server lets the agent attest again. A server that answers without a result
/// or an SVID is an `Internal` status.
pub async fn attest_agent(
    channel: Channel,
    request: agent_api::AttestAgentRequest,
    key: &KeyPair,
) -> Result<(X509Svid, bool), tonic::Status> {
    let mut stream = AgentClient::new(channel)
        .attest_agent(futures::stream::iter([request]))
        .await?
        .into_inner();
    let message = stream
        .message()
        .await?
        .ok_or_else(|| tonic::Status::internal("the stream ended without a result"))?;
    let Some(agent_api::attest_agent_response::Step::Result(result)) = message.step else {
        return Err(tonic::Status::internal("expected a result"));
    };
    let svid = result
        .svid
        .ok_or_else(|| tonic::Status::internal("a result without an SVID"))?;
    let svid = svid_from(svid, key).map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok((svid, result.reattestable))
}

/// Attests with a join token on `channel`, with a CSR of its own: the agent SVID.
pub async fn attest_join_token(channel: Channel, token: &str) -> Result<X509Svid, tonic::Status> {
    let (csr, key) = csr(&[]).map_err(|e| tonic::Status::internal(e.to_string()))?;
    attest_agent(channel, join_token_request(token, csr), &key)
        .await
        .map(|(svid, _)| svid)
}

/// A channel to the agent API at `address` (`host:port`) that presents no certificate.
pub fn anonymous_channel(
    address: &str,
    trust_domain: &TrustDomain,
    bundles: &BundleSet,
) -> Result<Channel, BoxError> {
    let config = agent_tls_config(trust_domain, Arc::new(bundles.clone()), None)?;
    Ok(tls_channel(address, Arc::new(config))?)
}

/// A channel to the agent API at `address` authenticated as the agent holding `svid`.
pub fn agent_channel(
    address: &str,
    trust_domain: &TrustDomain,
    bundles: &BundleSet,
    svid: X509Svid,
) -> Result<Channel, BoxError> {
    let config = agent_tls_config(
        trust_domain,
        Arc::new(bundles.clone()),
        Some(Arc::new(SvidCell::new(svid))),
    )?;
    Ok(tls_channel(address, Arc::new(config))?)
}

/// The server's bundle, from its admin API, as a set.
pub async fn bundle_set(admin: &Channel) -> Result<BundleSet, BoxError> {
    let b = BundleClient::new(admin.clone())
        .get_bundle(bundle_api::GetBundleRequest::default())
        .await?
        .into_inner();
    Ok([spiffe_proto::convert::bundle_from_pb(&b)?]
        .into_iter()
        .collect())
}

/// A join token valid for ten minutes, from the admin API, without an alias entry.
pub async fn join_token(admin: &Channel) -> Result<String, tonic::Status> {
    Ok(AgentClient::new(admin.clone())
        .create_join_token(agent_api::CreateJoinTokenRequest {
            ttl: 600,
            ..Default::default()
        })
        .await?
        .into_inner()
        .value)
}

/// `path` in `trust_domain`, as the APIs carry SPIFFE IDs.
pub fn spiffe_id(trust_domain: &str, path: &str) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: trust_domain.into(),
        path: path.into(),
    }
}

/// An entry for `id` under `parent` with one `unix:uid:<uid>` selector.
pub fn unix_entry(id: pb::Spiffeid, parent: pb::Spiffeid, uid: u32) -> pb::Entry {
    pb::Entry {
        spiffe_id: Some(id),
        parent_id: Some(parent),
        selectors: vec![pb::Selector {
            r#type: "unix".into(),
            value: format!("uid:{uid}"),
        }],
        ..Default::default()
    }
}

/// Creates `entry` through the admin API (`BatchCreateEntry` with one item): the entry as
/// stored, or the item's status when the server refused it.
pub async fn create_entry(admin: &Channel, entry: pb::Entry) -> Result<pb::Entry, tonic::Status> {
    let result = EntryClient::new(admin.clone())
        .batch_create_entry(entry_api::BatchCreateEntryRequest {
            entries: vec![entry],
            output_mask: None,
        })
        .await?
        .into_inner()
        .results
        .into_iter()
        .next()
        .ok_or_else(|| tonic::Status::internal("no result for the entry"))?;
    let status = result
        .status
        .ok_or_else(|| tonic::Status::internal("a result without a status"))?;
    if status.code != 0 {
        return Err(tonic::Status::new(
            tonic::Code::from_i32(status.code),
            status.message,
        ));
    }
    result
        .entry
        .ok_or_else(|| tonic::Status::internal("a created entry not returned"))
}
