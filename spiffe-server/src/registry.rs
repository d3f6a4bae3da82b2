//! Writing registration entries: validate, store, then update the index and wake the agents
//! concerned.

use thiserror::Error;

use crate::datastore::{DatastoreError, now_unix};
use crate::entry::{Entry, EntryError};
use crate::state::ServerState;

/// Why an entry write was refused.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The entry breaks a rule.
    #[error(transparent)]
    Invalid(#[from] EntryError),
    /// A federated trust domain has no bundle.
    #[error("unable to find federated bundle \"spiffe://{0}\"")]
    NoFederatedBundle(String),
    /// The datastore refused or failed.
    #[error(transparent)]
    Datastore(#[from] DatastoreError),
}

impl ServerState {
    fn check_federation(&self, e: &Entry) -> Result<(), RegistryError> {
        for td in &e.federates_with {
            if self.bundle(td.name()).is_none() {
                return Err(RegistryError::NoFederatedBundle(td.name().to_owned()));
            }
        }
        Ok(())
    }

    /// Creates an entry (generating its ID when empty).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Invalid`] if the entry breaks a rule,
    /// [`RegistryError::NoFederatedBundle`] if it federates with a trust domain that has no
    /// bundle, [`RegistryError::Datastore`] if the store refuses it (a duplicate) or fails.
    pub async fn create_entry(&self, mut e: Entry) -> Result<Entry, RegistryError> {
        e.normalize();
        e.validate(&self.config.trust_domain)?;
        self.check_federation(&e)?;
        if e.id.is_empty() {
            e.id = uuid::Uuid::new_v4().to_string();
        }
        e.revision_number = 0;
        e.created_at = now_unix();
        self.ds.create_entry(&e).await?;
        self.apply_entry(e.clone());
        Ok(e)
    }

    /// Replaces an entry; its revision is bumped.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Invalid`] if the entry breaks a rule,
    /// [`RegistryError::NoFederatedBundle`] if it federates with a trust domain that has no
    /// bundle, [`RegistryError::Datastore`] if no entry has its ID, the change duplicates
    /// another, or the store fails.
    pub async fn update_entry(&self, mut e: Entry) -> Result<Entry, RegistryError> {
        e.normalize();
        e.validate(&self.config.trust_domain)?;
        self.check_federation(&e)?;
        let stored = self.ds.update_entry(&e).await?;
        self.apply_entry(stored.clone());
        Ok(stored)
    }

    /// Deletes an entry.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Datastore`] if no entry has the ID or the store fails.
    pub async fn delete_entry(&self, id: &str) -> Result<Entry, RegistryError> {
        let old = self.ds.delete_entry(id).await?;
        self.apply_entry_removed(id);
        Ok(old)
    }
}
