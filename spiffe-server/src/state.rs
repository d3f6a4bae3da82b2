//! The server's shared state: datastore, CA, the in-memory index, the bundle cache, and the hub
//! that wakes the push streams of exactly the agents a change affects.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use spiffe_ca::CertificateAuthority;
use spiffe_core::SpiffeId;
use spiffe_core::x509::CertificateInfo;
use spiffe_proto::spire::api::types as pb;
use tokio::sync::watch;
use tracing::{debug, info};

use crate::config::ServerConfig;
use crate::datastore::{AttestedNode, ChangeEvent, Datastore, DatastoreError, now_unix};
use crate::entry::Entry;
use crate::index::{Index, Upsert};

/// Wakes push streams: one counter per agent, one for bundles, and the shutdown flag that
/// ends them all (so a graceful shutdown is not held up by streams that never end).
#[derive(Debug)]
pub struct Hub {
    agents: Mutex<HashMap<SpiffeId, watch::Sender<u64>>>,
    bundles: watch::Sender<u64>,
    relationships: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            agents: Mutex::new(HashMap::new()),
            bundles: watch::channel(0).0,
            relationships: watch::channel(0).0,
            shutdown: watch::channel(false).0,
        }
    }
}

impl Hub {
    /// A receiver that turns true when the server shuts down.
    pub fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ends every push stream.
    pub fn shut_down(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A receiver that changes whenever the agent's authorized entries may have changed.
    pub fn subscribe(&self, agent: &SpiffeId) -> watch::Receiver<u64> {
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        agents
            .entry(agent.clone())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// A receiver that changes whenever a bundle changed.
    pub fn subscribe_bundles(&self) -> watch::Receiver<u64> {
        self.bundles.subscribe()
    }

    /// Wakes the streams of these agents.
    pub fn poke<'a>(&self, agents: impl IntoIterator<Item = &'a SpiffeId>) {
        let mut map = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        for a in agents {
            if let Some(tx) = map.get(a) {
                if tx.receiver_count() == 0 {
                    map.remove(a);
                } else {
                    tx.send_modify(|n| *n += 1);
                }
            }
        }
    }

    /// Wakes every stream (bundles changed).
    pub fn poke_bundles(&self) {
        self.bundles.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever a federation relationship may have changed.
    pub fn subscribe_relationships(&self) -> watch::Receiver<u64> {
        self.relationships.subscribe()
    }

    /// Wakes the bundle refresher (a federation relationship changed).
    pub fn poke_relationships(&self) {
        self.relationships.send_modify(|n| *n += 1);
    }
}

/// The server's shared state.
#[derive(Debug)]
pub struct ServerState {
    /// Configuration.
    pub config: ServerConfig,
    /// The datastore.
    pub ds: Datastore,
    /// This server's signing authority.
    pub ca: Arc<CertificateAuthority>,
    index: RwLock<Index>,
    bundles: RwLock<HashMap<String, Arc<pb::Bundle>>>,
    /// Bundles converted for verification, by trust domain, with the sequence they came from.
    core_bundles: RwLock<HashMap<String, (u64, Arc<spiffe_core::Bundle>)>>,
    /// Push notifications.
    pub hub: Hub,
    /// Serializes this server's read-modify-writes of its trust domain's bundle.
    bundle_publish: tokio::sync::Mutex<()>,
}

impl ServerState {
    /// Loads entries, agents and bundles from the datastore.
    ///
    /// # Errors
    ///
    /// A [`DatastoreError`] if entries, agents or bundles cannot be read.
    pub async fn load(
        config: ServerConfig,
        ds: Datastore,
        ca: Arc<CertificateAuthority>,
    ) -> Result<Self, DatastoreError> {
        let started = std::time::Instant::now();
        let entries = ds.list_entries().await?;
        let nodes = ds.list_nodes().await?;
        let index = Index::build(entries, nodes);
        let bundles = ds
            .list_bundles()
            .await?
            .into_iter()
            .map(|b| (b.trust_domain.clone(), Arc::new(b)))
            .collect();
        info!(
            entries = index.entry_count(),
            agents = index.node_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "server state loaded"
        );
        Ok(ServerState {
            config,
            ds,
            ca,
            index: RwLock::new(index),
            bundles: RwLock::new(bundles),
            core_bundles: RwLock::new(HashMap::new()),
            hub: Hub::default(),
            bundle_publish: tokio::sync::Mutex::new(()),
        })
    }

    /// Reads the index.
    pub fn with_index<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn with_index_mut<R>(&self, f: impl FnOnce(&mut Index) -> R) -> R {
        f(&mut self.index.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies a stored entry to the index and wakes the agents it concerns (before and after).
    pub fn apply_entry(&self, entry: Entry) {
        let affected = self.with_index_mut(|ix| {
            let mut affected = ix.affected_agents(&entry);
            match ix.upsert_entry(entry) {
                Upsert::Unchanged => return BTreeSet::new(),
                Upsert::Replaced(old) => affected.extend(ix.affected_agents(&old)),
                Upsert::Added => {}
            }
            affected
        });
        self.hub.poke(&affected);
    }

    /// Removes an entry from the index and wakes the agents it concerned.
    pub fn apply_entry_removed(&self, id: &str) {
        let affected = self.with_index_mut(|ix| match ix.remove_entry(id) {
            Some(old) => ix.affected_agents(&old),
            None => BTreeSet::new(),
        });
        self.hub.poke(&affected);
    }

    /// Applies a stored agent to the index and wakes its stream.
    pub fn apply_node(&self, node: AttestedNode) {
        let id = node.spiffe_id.clone();
        let changed = self.with_index_mut(|ix| !matches!(ix.upsert_node(node), Upsert::Unchanged));
        if changed {
            self.hub.poke([&id]);
        }
    }

    /// Removes an agent from the index and wakes its stream (which then ends).
    pub fn apply_node_removed(&self, id: &SpiffeId) {
        if self.with_index_mut(|ix| ix.remove_node(id)).is_some() {
            self.hub.poke([id]);
        }
    }

    /// Applies a stored bundle.
    pub fn apply_bundle(&self, bundle: pb::Bundle) {
        let td = bundle.trust_domain.clone();
        let mut map = self.bundles.write().unwrap_or_else(PoisonError::into_inner);
        if map.get(&td).is_some_and(|b| **b == bundle) {
            return;
        }
        map.insert(td, Arc::new(bundle));
        drop(map);
        self.hub.poke_bundles();
    }

    /// Forgets a deleted bundle.
    pub fn apply_bundle_removed(&self, td: &str) {
        let removed = self
            .bundles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(td)
            .is_some();
        if removed {
            self.hub.poke_bundles();
        }
    }

    /// A bundle by trust domain name.
    pub fn bundle(&self, td: &str) -> Option<Arc<pb::Bundle>> {
        self.bundles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(td)
            .cloned()
    }

    /// A bundle as spiffe-core's type (converted once per sequence number).
    pub fn core_bundle(&self, td: &str) -> Option<Arc<spiffe_core::Bundle>> {
        let pb = self.bundle(td)?;
        if let Some((seq, b)) = self
            .core_bundles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(td)
            && *seq == pb.sequence_number
        {
            return Some(Arc::clone(b));
        }
        let converted = Arc::new(crate::convert::bundle_from_pb(&pb).ok()?);
        self.core_bundles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(td.to_owned(), (pb.sequence_number, Arc::clone(&converted)));
        Some(converted)
    }

    /// The trust domain's own bundle.
    pub fn local_bundle(&self) -> Option<Arc<pb::Bundle>> {
        self.bundle(self.config.trust_domain.name())
    }

    /// Every federated bundle (all but the trust domain's own), ordered by trust domain.
    pub fn federated_bundles(&self) -> Vec<Arc<pb::Bundle>> {
        let map = self.bundles.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = map
            .iter()
            .filter(|(td, _)| *td != self.config.trust_domain.name())
            .map(|(_, b)| Arc::clone(b))
            .collect();
        out.sort_by(|a, b| a.trust_domain.cmp(&b.trust_domain));
        out
    }

    /// Refreshes one object from the datastore after another server changed it.
    ///
    /// # Errors
    ///
    /// A [`DatastoreError`] if the changed object cannot be read.
    pub async fn refresh(&self, event: &ChangeEvent) -> Result<(), DatastoreError> {
        debug!(?event, "datastore change");
        match event {
            ChangeEvent::Entry(id) => match self.ds.fetch_entry(id).await? {
                Some(e) => self.apply_entry(e),
                None => self.apply_entry_removed(id),
            },
            ChangeEvent::Node(id) => {
                let Ok(id) = SpiffeId::parse(id) else {
                    return Ok(());
                };
                match self.ds.fetch_node(&id).await? {
                    Some(n) => self.apply_node(n),
                    None => self.apply_node_removed(&id),
                }
            }
            ChangeEvent::Bundle(td) => match self.ds.fetch_bundle(td).await? {
                Some(b) => self.apply_bundle(b),
                None => self.apply_bundle_removed(td),
            },
            // The refresher reads relationships itself.
            ChangeEvent::FederationRelationship(_) => self.hub.poke_relationships(),
        }
        Ok(())
    }

    /// Reloads everything (after a lost event connection): entries, agents and bundles.
    ///
    /// # Errors
    ///
    /// A [`DatastoreError`] if entries, agents or bundles cannot be read.
    pub async fn reload(&self) -> Result<(), DatastoreError> {
        let entries = self.ds.list_entries().await?;
        let nodes = self.ds.list_nodes().await?;
        let index = Index::build(entries, nodes);
        let agents: Vec<SpiffeId> = index.nodes().map(|n| n.spiffe_id.clone()).collect();
        self.with_index_mut(|ix| *ix = index);
        self.hub.poke(&agents);
        for b in self.ds.list_bundles().await? {
            self.apply_bundle(b);
        }
        self.hub.poke_relationships();
        Ok(())
    }

    /// Publishes this server's CA authorities into the trust domain's stored bundle: adds the
    /// ones it lacks, drops expired ones (of any server), bumps the sequence number when the
    /// content changed. Servers sharing a database each add their own roots.
    ///
    /// # Errors
    ///
    /// A [`DatastoreError`] if the stored bundle cannot be read, decoded or written.
    pub async fn publish_local_bundle(&self) -> Result<(), DatastoreError> {
        let _guard = self.bundle_publish.lock().await;
        let td = self.config.trust_domain.name().to_owned();
        let now = now_unix();
        let ca_bundle = self.ca.bundle();
        let jwt_expiry: HashMap<String, i64> = self
            .ca
            .jwt_authorities()
            .into_iter()
            .map(|a| (a.id, a.not_after))
            .collect();
        let mine_x509: Vec<(Vec<u8>, i64)> = ca_bundle
            .x509()
            .authorities()
            .iter()
            .map(|c| {
                let exp = CertificateInfo::parse(c).map_or(0, |i| i.not_after);
                (c.as_ref().to_vec(), exp)
            })
            .collect();
        let mine_jwt: Vec<pb::JwtKey> = ca_bundle
            .jwt()
            .authorities()
            .map(|(kid, key)| pb::JwtKey {
                public_key: key.spki_der().to_vec(),
                key_id: kid.to_owned(),
                expires_at: jwt_expiry.get(kid).copied().unwrap_or(0),
                tainted: false,
            })
            .collect();
        let stored = self
            .ds
            .update_bundle(&td, |current| {
                Ok(edit_bundle(current, &td, |b| {
                    b.x509_authorities.retain(|c| {
                        CertificateInfo::parse(&rustls_pki_types::CertificateDer::from(
                            c.asn1.as_slice(),
                        ))
                        .map_or(true, |i| i.not_after > now)
                    });
                    b.jwt_authorities
                        .retain(|k| k.expires_at == 0 || k.expires_at > now);
                    let x509 = mine_x509.iter().map(|(der, _)| pb::X509Certificate {
                        asn1: der.clone(),
                        tainted: false,
                    });
                    add_authorities(b, x509, &mine_jwt);
                }))
            })
            .await?;
        if let Some(b) = stored {
            self.apply_bundle(b);
        }
        Ok(())
    }

    /// The authorized entries of an agent, now.
    pub fn authorized_entries(&self, agent: &SpiffeId) -> Vec<Arc<Entry>> {
        let now = now_unix();
        self.with_index(|ix| ix.authorized_entries(agent, now))
    }
}

/// The server's bundles as a [`spiffe_core::BundleSource`], following every change (for
/// verifying agents' and admins' SVIDs in TLS handshakes).
#[derive(Debug, Clone)]
pub struct StateBundles(pub Arc<ServerState>);

impl spiffe_core::BundleSource for StateBundles {
    fn x509_bundle(&self, td: &spiffe_core::TrustDomain) -> Option<Arc<spiffe_core::X509Bundle>> {
        self.0.core_bundle(td.name()).map(|b| b.x509_shared())
    }

    fn jwt_bundle(&self, td: &spiffe_core::TrustDomain) -> Option<Arc<spiffe_core::JwtBundle>> {
        self.0.core_bundle(td.name()).map(|b| b.jwt_shared())
    }
}

/// The stored bundle of `trust_domain` (or a new, empty one) after `edit`, with its sequence
/// number bumped; `None` if `edit` changed nothing.
pub(crate) fn edit_bundle(
    current: Option<pb::Bundle>,
    trust_domain: &str,
    edit: impl FnOnce(&mut pb::Bundle),
) -> Option<pb::Bundle> {
    let mut b = current.unwrap_or_else(|| pb::Bundle {
        trust_domain: trust_domain.to_owned(),
        ..pb::Bundle::default()
    });
    let before = b.clone();
    edit(&mut b);
    if b == before {
        return None;
    }
    b.sequence_number += 1;
    Some(b)
}

/// Adds to `b` the X.509 authorities it lacks (by certificate) and the JWT authorities it lacks
/// (by key ID).
pub(crate) fn add_authorities<'a>(
    b: &mut pb::Bundle,
    x509: impl IntoIterator<Item = pb::X509Certificate>,
    jwt: impl IntoIterator<Item = &'a pb::JwtKey>,
) {
    for c in x509 {
        if !b.x509_authorities.iter().any(|x| x.asn1 == c.asn1) {
            b.x509_authorities.push(c);
        }
    }
    for k in jwt {
        if !b.jwt_authorities.iter().any(|x| x.key_id == k.key_id) {
            b.jwt_authorities.push(k.clone());
        }
    }
}
