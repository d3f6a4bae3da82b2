//! Change events between servers sharing a PostgreSQL database: each write notifies, in its own
//! transaction (so the notification is delivered only if, and when, it commits), and every
//! server listens and refreshes just the object named.

use sqlx::postgres::PgListener;
use sqlx::{Any, Transaction};
use tracing::warn;

use super::{Backend, CHANNEL, Datastore, DatastoreError};

/// What changed. Its `Debug` form (the one logs show) hides join tokens in agent IDs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum ChangeEvent {
    /// A registration entry, by ID.
    Entry(String),
    /// An attested node, by SPIFFE ID.
    Node(String),
    /// A bundle, by trust domain.
    Bundle(String),
    /// A federation relationship, by trust domain.
    FederationRelationship(String),
}

impl std::fmt::Debug for ChangeEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeEvent::Entry(id) => f.debug_tuple("Entry").field(id).finish(),
            ChangeEvent::Node(id) => f
                .debug_tuple("Node")
                .field(&crate::attest::log_id_str(id))
                .finish(),
            ChangeEvent::Bundle(td) => f.debug_tuple("Bundle").field(td).finish(),
            ChangeEvent::FederationRelationship(td) => {
                f.debug_tuple("FederationRelationship").field(td).finish()
            }
        }
    }
}

impl ChangeEvent {
    fn encode(&self) -> String {
        match self {
            ChangeEvent::Entry(id) => format!("entry:{id}"),
            ChangeEvent::Node(id) => format!("node:{id}"),
            ChangeEvent::Bundle(td) => format!("bundle:{td}"),
            ChangeEvent::FederationRelationship(td) => format!("federation:{td}"),
        }
    }

    fn decode(payload: &str) -> Option<Self> {
        let (kind, key) = payload.split_once(':')?;
        Some(match kind {
            "entry" => ChangeEvent::Entry(key.to_owned()),
            "node" => ChangeEvent::Node(key.to_owned()),
            "bundle" => ChangeEvent::Bundle(key.to_owned()),
            "federation" => ChangeEvent::FederationRelationship(key.to_owned()),
            _ => return None,
        })
    }
}

/// Sends the change notification within `tx` (PostgreSQL only; a single SQLite server needs
/// none) and commits it.
pub(crate) async fn notify_and_commit(
    ds: &Datastore,
    mut tx: Transaction<'_, Any>,
    event: &ChangeEvent,
) -> Result<(), DatastoreError> {
    if ds.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(event.encode())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The changes other servers make, as they commit.
pub struct EventStream {
    listener: PgListener,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next change. `Ok(None)` means the connection was lost and re-established: changes
    /// may have been missed, so the caller must reload everything once.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the notification connection fails and cannot be
    /// re-established.
    pub async fn next(&mut self) -> Result<Option<ChangeEvent>, DatastoreError> {
        loop {
            match self.listener.try_recv().await? {
                Some(n) => match ChangeEvent::decode(n.payload()) {
                    Some(ev) => return Ok(Some(ev)),
                    // Only the kind: the rest may name an agent by a join token.
                    None => warn!(
                        kind = n.payload().split(':').next().unwrap_or_default(),
                        "unknown datastore event ignored"
                    ),
                },
                None => return Ok(None),
            }
        }
    }
}

impl Datastore {
    /// Listens for changes committed by any server on the same PostgreSQL database. `None` for
    /// SQLite, where one server owns the file.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the notification connection cannot be opened or the
    /// channel cannot be listened to.
    pub async fn listen(&self) -> Result<Option<EventStream>, DatastoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(self.url()).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(EventStream { listener }))
    }
}

#[cfg(test)]
mod tests {
    use super::ChangeEvent;

    #[test]
    fn debug_hides_join_tokens() {
        let e = ChangeEvent::Node("spiffe://example.org/spire/agent/join_token/abc".into());
        assert_eq!(
            format!("{e:?}"),
            "Node(\"spiffe://example.org/spire/agent/join_token/sha256:ba7816bf\")"
        );
        assert_eq!(ChangeEvent::decode(&e.encode()), Some(e));
        let f = ChangeEvent::FederationRelationship("partner.org".into());
        assert_eq!(ChangeEvent::decode(&f.encode()), Some(f));
    }
}
