//! Join tokens in the datastore: only their SHA-256 is kept (`join_token_hashes`), so a copy of
//! the database (a backup, a replica, a `SELECT` by someone who may read it) does not hand out
//! tokens that still admit an agent.

use sqlx::Row;

use super::{Datastore, DatastoreError};
use crate::attest::join_token_hash;

impl Datastore {
    /// Stores a join token (its hash).
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the write fails (including a token that exists already).
    pub async fn create_join_token(
        &self,
        token: &str,
        expires_at: i64,
    ) -> Result<(), DatastoreError> {
        sqlx::query("INSERT INTO join_token_hashes (token_hash, expires_at) VALUES ($1, $2)")
            .bind(join_token_hash(token))
            .bind(expires_at)
            .execute(self.pool())
            .await
            .map_err(|e| super::already_exists(e, "join token already exists"))?;
        Ok(())
    }

    /// Takes a join token: deletes it and returns its expiry, or `None` if it does not exist
    /// (never existed, or was used already). Single use holds across servers: the delete is the
    /// claim.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the delete fails.
    pub async fn take_join_token(&self, token: &str) -> Result<Option<i64>, DatastoreError> {
        let row =
            sqlx::query("DELETE FROM join_token_hashes WHERE token_hash = $1 RETURNING expires_at")
                .bind(join_token_hash(token))
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| r.try_get("expires_at").map_err(Into::into))
            .transpose()
    }

    /// Deletes join tokens that expired before `now`; returns how many.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the delete fails.
    pub async fn prune_join_tokens(&self, now: i64) -> Result<u64, DatastoreError> {
        let done = sqlx::query("DELETE FROM join_token_hashes WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
