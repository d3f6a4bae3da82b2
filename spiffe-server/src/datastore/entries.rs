//! Registration entries in the datastore.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use spiffe_core::{Selector, SpiffeId, TrustDomain};

use super::events::{ChangeEvent, notify_and_commit};
use super::{AnyQuery, Datastore, DatastoreError, already_exists};
use crate::entry::Entry;

const COLUMNS: &str = "id, spiffe_id, parent_id, selectors, x509_svid_ttl, jwt_svid_ttl, dns_names, \
    federates_with, admin, downstream, store_svid, disable_x509_svid_prefetch, jwt_svid_include_jti, \
    expires_at, hint, revision_number, created_at";

fn json_list<T: AsRef<str>>(items: &[T]) -> String {
    let list: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

fn corrupt(reason: impl ToString) -> DatastoreError {
    DatastoreError::Corrupt {
        what: "registration entry",
        reason: reason.to_string(),
    }
}

fn from_row(row: &AnyRow) -> Result<Entry, DatastoreError> {
    let strings = |col: &str| -> Result<Vec<String>, DatastoreError> {
        let raw: String = row.try_get(col)?;
        serde_json::from_str(&raw).map_err(|e| corrupt(format!("{col}: {e}")))
    };
    let flag = |col: &str| -> Result<bool, DatastoreError> { Ok(row.try_get::<i64, _>(col)? != 0) };
    let id: String = row.try_get("id")?;
    let spiffe_id = SpiffeId::parse(&row.try_get::<String, _>("spiffe_id")?)
        .map_err(|e| corrupt(format!("entry {id}: spiffe_id: {e}")))?;
    let parent_id = SpiffeId::parse(&row.try_get::<String, _>("parent_id")?)
        .map_err(|e| corrupt(format!("entry {id}: parent_id: {e}")))?;
    let selectors = strings("selectors")?
        .iter()
        .map(|s| Selector::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(format!("entry {id}: {e}")))?;
    let federates_with = strings("federates_with")?
        .iter()
        .map(|s| TrustDomain::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(format!("entry {id}: {e}")))?;
    let ttl = |col: &str| -> Result<i32, DatastoreError> {
        i32::try_from(row.try_get::<i64, _>(col)?).map_err(|e| corrupt(format!("{col}: {e}")))
    };
    let mut entry = Entry {
        spiffe_id,
        parent_id,
        selectors,
        x509_svid_ttl: ttl("x509_svid_ttl")?,
        jwt_svid_ttl: ttl("jwt_svid_ttl")?,
        dns_names: strings("dns_names")?,
        federates_with,
        admin: flag("admin")?,
        downstream: flag("downstream")?,
        store_svid: flag("store_svid")?,
        disable_x509_svid_prefetch: flag("disable_x509_svid_prefetch")?,
        jwt_svid_include_jti: flag("jwt_svid_include_jti")?,
        expires_at: row.try_get("expires_at")?,
        hint: row.try_get("hint")?,
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        id,
    };
    entry.normalize();
    Ok(entry)
}

impl Datastore {
    /// Stores a new entry (its ID and `created_at` must be set). An entry with the same ID, or
    /// with the same SPIFFE ID, parent and selector set, is refused as already existing.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::AlreadyExists`] for a duplicate ID or a duplicate (SPIFFE ID, parent,
    /// selectors); [`DatastoreError::Database`] if the write fails.
    pub async fn create_entry(&self, entry: &Entry) -> Result<(), DatastoreError> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT 1 AS one FROM registered_entries WHERE id = $1")
            .bind(&entry.id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DatastoreError::AlreadyExists(format!(
                "an entry with ID {} already exists",
                entry.id
            )));
        }
        let sql = format!(
            "INSERT INTO registered_entries ({COLUMNS}, similarity_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
        bind_entry(sqlx::query(AssertSqlSafe(sql)), entry)
            .bind(entry.similarity_key())
            .execute(&mut *tx)
            .await
            .map_err(|e| already_exists(e, "similar entry already exists"))?;
        notify_and_commit(self, tx, &ChangeEvent::Entry(entry.id.clone())).await?;
        Ok(())
    }

    /// Replaces an entry (matched by ID) and bumps its revision; returns the stored entry.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if no entry has the ID; [`DatastoreError::AlreadyExists`]
    /// if the change duplicates another entry; [`DatastoreError::Database`] if the write fails.
    pub async fn update_entry(&self, entry: &Entry) -> Result<Entry, DatastoreError> {
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("SELECT revision_number, created_at FROM registered_entries WHERE id = $1")
                .bind(&entry.id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| DatastoreError::NotFound("entry not found".into()))?;
        let mut stored = entry.clone();
        stored.revision_number = row.try_get::<i64, _>("revision_number")? + 1;
        stored.created_at = row.try_get("created_at")?;
        let update = sqlx::query(
            "UPDATE registered_entries SET spiffe_id = $2, parent_id = $3, selectors = $4, \
             x509_svid_ttl = $5, jwt_svid_ttl = $6, dns_names = $7, federates_with = $8, admin = $9, \
             downstream = $10, store_svid = $11, disable_x509_svid_prefetch = $12, \
             jwt_svid_include_jti = $13, expires_at = $14, hint = $15, revision_number = $16, \
             created_at = $17, similarity_key = $18 WHERE id = $1",
        );
        bind_entry(update, &stored)
            .bind(stored.similarity_key())
            .execute(&mut *tx)
            .await
            .map_err(|e| already_exists(e, "similar entry already exists"))?;
        notify_and_commit(self, tx, &ChangeEvent::Entry(entry.id.clone())).await?;
        Ok(stored)
    }

    /// Deletes an entry; returns it.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if no entry has the ID; [`DatastoreError::Database`] if the
    /// write fails.
    pub async fn delete_entry(&self, id: &str) -> Result<Entry, DatastoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!("DELETE FROM registered_entries WHERE id = $1 RETURNING {COLUMNS}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| DatastoreError::NotFound("entry not found".into()))?;
        let entry = from_row(&row)?;
        notify_and_commit(self, tx, &ChangeEvent::Entry(id.to_owned())).await?;
        Ok(entry)
    }

    /// One entry.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if the
    /// stored row does not read back.
    pub async fn fetch_entry(&self, id: &str) -> Result<Option<Entry>, DatastoreError> {
        let sql = format!("SELECT {COLUMNS} FROM registered_entries WHERE id = $1");
        self.fetch_optional(sqlx::query(AssertSqlSafe(sql)).bind(id), from_row)
            .await
    }

    /// Every entry (for loading the in-memory index).
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if a stored
    /// row does not read back.
    pub async fn list_entries(&self) -> Result<Vec<Entry>, DatastoreError> {
        let sql = format!("SELECT {COLUMNS} FROM registered_entries");
        self.fetch_all(sqlx::query(AssertSqlSafe(sql)), from_row)
            .await
    }

    /// Number of entries.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails.
    pub async fn count_entries(&self) -> Result<i64, DatastoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM registered_entries")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// Binds columns 1 to 17 in [`COLUMNS`] order.
fn bind_entry<'q>(q: AnyQuery<'q>, e: &Entry) -> AnyQuery<'q> {
    let selectors: Vec<String> = e.selectors.iter().map(ToString::to_string).collect();
    let federates: Vec<&str> = e.federates_with.iter().map(TrustDomain::name).collect();
    q.bind(e.id.clone())
        .bind(e.spiffe_id.to_string())
        .bind(e.parent_id.to_string())
        .bind(json_list(&selectors))
        .bind(i64::from(e.x509_svid_ttl))
        .bind(i64::from(e.jwt_svid_ttl))
        .bind(json_list(&e.dns_names))
        .bind(json_list(&federates))
        .bind(i64::from(e.admin))
        .bind(i64::from(e.downstream))
        .bind(i64::from(e.store_svid))
        .bind(i64::from(e.disable_x509_svid_prefetch))
        .bind(i64::from(e.jwt_svid_include_jti))
        .bind(e.expires_at)
        .bind(e.hint.clone())
        .bind(e.revision_number)
        .bind(e.created_at)
}
