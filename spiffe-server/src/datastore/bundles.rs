//! Trust bundles in the datastore: the trust domain's own (each server appends its
//! authorities) and federated ones. Stored as SPIRE's `types.Bundle` protobuf.

use prost::Message;
use sqlx::Row;
use sqlx::any::AnyRow;

use spiffe_proto::spire::api::types::Bundle;

use super::events::{ChangeEvent, notify_and_commit};
use super::{Backend, Datastore, DatastoreError, already_exists, now_unix};

/// The bundle in a row's `data` column.
fn from_row(row: &AnyRow) -> Result<Bundle, DatastoreError> {
    decode(&row.try_get::<Vec<u8>, _>("data")?)
}

fn decode(data: &[u8]) -> Result<Bundle, DatastoreError> {
    Bundle::decode(data).map_err(|e| DatastoreError::Corrupt {
        what: "bundle",
        reason: e.to_string(),
    })
}

impl Datastore {
    /// The bundle of a trust domain.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if the
    /// stored bundle does not decode.
    pub async fn fetch_bundle(&self, trust_domain: &str) -> Result<Option<Bundle>, DatastoreError> {
        let query = sqlx::query("SELECT data FROM bundles WHERE trust_domain = $1")
            .bind(trust_domain.to_owned());
        self.fetch_optional(query, from_row).await
    }

    /// Every bundle, ordered by trust domain.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if a stored
    /// bundle does not decode.
    pub async fn list_bundles(&self) -> Result<Vec<Bundle>, DatastoreError> {
        self.fetch_all(
            sqlx::query("SELECT data FROM bundles ORDER BY trust_domain"),
            from_row,
        )
        .await
    }

    /// Creates a bundle; an existing one of the same trust domain is an error.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::AlreadyExists`] if the trust domain has a bundle;
    /// [`DatastoreError::Database`] if the write fails.
    pub async fn create_bundle(&self, bundle: &Bundle) -> Result<(), DatastoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO bundles (trust_domain, data, updated_at) VALUES ($1, $2, $3)")
            .bind(bundle.trust_domain.clone())
            .bind(bundle.encode_to_vec())
            .bind(now_unix())
            .execute(&mut *tx)
            .await
            .map_err(|e| already_exists(e, "bundle already exists"))?;
        notify_and_commit(self, tx, &ChangeEvent::Bundle(bundle.trust_domain.clone())).await
    }

    /// Reads, changes and writes the bundle of `trust_domain` in one transaction (the row is
    /// locked on PostgreSQL, so servers sharing the database do not lose each other's changes).
    /// `change` gets the current bundle (if any) and returns the new one, or `None` to leave it
    /// as it is. Returns what is stored afterwards.
    ///
    /// # Errors
    ///
    /// What `change` returns; [`DatastoreError::Corrupt`] if the stored bundle does not decode;
    /// [`DatastoreError::Database`] if the transaction fails.
    pub async fn update_bundle<F>(
        &self,
        trust_domain: &str,
        change: F,
    ) -> Result<Option<Bundle>, DatastoreError>
    where
        F: FnOnce(Option<Bundle>) -> Result<Option<Bundle>, DatastoreError>,
    {
        let mut tx = self.begin_write().await?;
        let select = match self.backend() {
            Backend::Postgres => "SELECT data FROM bundles WHERE trust_domain = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT data FROM bundles WHERE trust_domain = $1",
        };
        let current = sqlx::query(select)
            .bind(trust_domain.to_owned())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| from_row(&r))
            .transpose()?;
        let existed = current.is_some();
        let unchanged = current.clone();
        let Some(next) = change(current)? else {
            tx.rollback().await?;
            return Ok(unchanged);
        };
        let sql = if existed {
            "UPDATE bundles SET data = $2, updated_at = $3 WHERE trust_domain = $1"
        } else {
            "INSERT INTO bundles (trust_domain, data, updated_at) VALUES ($1, $2, $3)"
        };
        sqlx::query(sql)
            .bind(trust_domain.to_owned())
            .bind(next.encode_to_vec())
            .bind(now_unix())
            .execute(&mut *tx)
            .await?;
        notify_and_commit(self, tx, &ChangeEvent::Bundle(trust_domain.to_owned())).await?;
        Ok(Some(next))
    }

    /// Deletes the bundle of a trust domain.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the trust domain has no bundle;
    /// [`DatastoreError::Database`] if the write fails.
    pub async fn delete_bundle(&self, trust_domain: &str) -> Result<(), DatastoreError> {
        let write = sqlx::query("DELETE FROM bundles WHERE trust_domain = $1")
            .bind(trust_domain.to_owned());
        self.write_one(
            write,
            "no such bundle",
            &ChangeEvent::Bundle(trust_domain.to_owned()),
        )
        .await
    }
}
