//! Attested agents (nodes) in the datastore.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use spiffe_core::{Selector, SpiffeId};

use super::events::{ChangeEvent, notify_and_commit};
use super::{AnyQuery, Datastore, DatastoreError, now_unix};

/// An agent the server admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedNode {
    /// The agent's SPIFFE ID.
    pub spiffe_id: SpiffeId,
    /// The node attestor that admitted it (`join_token`, `k8s_psat`, ...).
    pub attestation_type: String,
    /// Serial number (decimal) of its current agent SVID; empty once banned.
    pub serial_number: String,
    /// Expiry of its current agent SVID (seconds since the Unix epoch).
    pub expires_at: i64,
    /// Serial number of an SVID issued by a renewal the agent has not used yet.
    pub new_serial_number: String,
    /// Its expiry.
    pub new_expires_at: i64,
    /// Whether the agent may attest again (PSAT yes, join token no).
    pub can_reattest: bool,
    /// Whether the agent is banned.
    pub banned: bool,
    /// Node selectors from attestation.
    pub selectors: Vec<Selector>,
    /// Agent version reported, if any.
    pub agent_version: String,
    /// When it was first admitted.
    pub created_at: i64,
}

const COLUMNS: &str = "spiffe_id, attestation_type, serial_number, expires_at, new_serial_number, \
    new_expires_at, can_reattest, banned, selectors, agent_version, created_at, updated_at";

fn corrupt(reason: impl ToString) -> DatastoreError {
    DatastoreError::Corrupt {
        what: "attested node",
        reason: reason.to_string(),
    }
}

fn from_row(row: &AnyRow) -> Result<AttestedNode, DatastoreError> {
    let stored: String = row.try_get("spiffe_id")?;
    // Errors name the agent as logs may show it (no join token).
    let id = crate::attest::log_id_str(&stored);
    let selectors: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("selectors")?)
        .map_err(|e| corrupt(format!("{id}: selectors: {e}")))?;
    Ok(AttestedNode {
        spiffe_id: SpiffeId::parse(&stored).map_err(|e| corrupt(format!("{id}: {e}")))?,
        attestation_type: row.try_get("attestation_type")?,
        serial_number: row.try_get("serial_number")?,
        expires_at: row.try_get("expires_at")?,
        new_serial_number: row.try_get("new_serial_number")?,
        new_expires_at: row.try_get("new_expires_at")?,
        can_reattest: row.try_get::<i64, _>("can_reattest")? != 0,
        banned: row.try_get::<i64, _>("banned")? != 0,
        selectors: selectors
            .iter()
            .map(|s| Selector::parse(s))
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt(format!("{id}: {e}")))?,
        agent_version: row.try_get("agent_version")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Datastore {
    /// Stores a newly admitted agent, replacing an earlier record of the same ID (an agent
    /// that attests again). A banned agent is never replaced.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::AlreadyExists`] if the agent is banned; [`DatastoreError::Database`]
    /// if the write fails.
    pub async fn put_node(&self, node: &AttestedNode) -> Result<(), DatastoreError> {
        let mut tx = self.begin_write().await?;
        let existing =
            sqlx::query("SELECT banned, created_at FROM attested_nodes WHERE spiffe_id = $1")
                .bind(node.spiffe_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let mut created_at = node.created_at;
        if let Some(row) = existing {
            if row.try_get::<i64, _>("banned")? != 0 {
                return Err(DatastoreError::AlreadyExists(format!(
                    "agent {} is banned",
                    node.spiffe_id
                )));
            }
            created_at = row.try_get("created_at")?;
            sqlx::query("DELETE FROM attested_nodes WHERE spiffe_id = $1")
                .bind(node.spiffe_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let selectors: Vec<String> = node.selectors.iter().map(ToString::to_string).collect();
        let sql = format!(
            "INSERT INTO attested_nodes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(node.spiffe_id.to_string())
            .bind(node.attestation_type.clone())
            .bind(node.serial_number.clone())
            .bind(node.expires_at)
            .bind(node.new_serial_number.clone())
            .bind(node.new_expires_at)
            .bind(i64::from(node.can_reattest))
            .bind(i64::from(node.banned))
            .bind(serde_json::to_string(&selectors).unwrap_or_else(|_| "[]".into()))
            .bind(node.agent_version.clone())
            .bind(created_at)
            .bind(now_unix())
            .execute(&mut *tx)
            .await?;
        notify_and_commit(self, tx, &ChangeEvent::Node(node.spiffe_id.to_string())).await
    }

    /// Records the SVID of a renewal (serial and expiry become current).
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the agent has no record; [`DatastoreError::Database`] if
    /// the write fails.
    pub async fn set_node_svid(
        &self,
        id: &SpiffeId,
        serial_number: &str,
        expires_at: i64,
    ) -> Result<(), DatastoreError> {
        let write = sqlx::query(
            "UPDATE attested_nodes SET serial_number = $2, expires_at = $3, new_serial_number = '', \
             new_expires_at = 0, updated_at = $4 WHERE spiffe_id = $1 AND banned = 0",
        )
        .bind(id.to_string())
        .bind(serial_number.to_owned())
        .bind(expires_at)
        .bind(now_unix());
        self.write_node(write, id).await
    }

    /// Records a renewal: the SVID the agent renewed with stays valid as the current one, the
    /// new SVID is accepted too, and any older one stops being accepted.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the agent has no record; [`DatastoreError::Database`] if
    /// the write fails.
    pub async fn renew_node_svid(
        &self,
        id: &SpiffeId,
        current_serial: &str,
        current_expires_at: i64,
        new_serial: &str,
        new_expires_at: i64,
    ) -> Result<(), DatastoreError> {
        let write = sqlx::query(
            "UPDATE attested_nodes SET serial_number = $2, expires_at = $3, new_serial_number = $4, \
             new_expires_at = $5, updated_at = $6 WHERE spiffe_id = $1 AND banned = 0",
        )
        .bind(id.to_string())
        .bind(current_serial.to_owned())
        .bind(current_expires_at)
        .bind(new_serial.to_owned())
        .bind(new_expires_at)
        .bind(now_unix());
        self.write_node(write, id).await
    }

    /// One agent.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if the
    /// stored row does not read back.
    pub async fn fetch_node(&self, id: &SpiffeId) -> Result<Option<AttestedNode>, DatastoreError> {
        let sql = format!("SELECT {COLUMNS} FROM attested_nodes WHERE spiffe_id = $1");
        self.fetch_optional(
            sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()),
            from_row,
        )
        .await
    }

    /// Every agent.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if a stored
    /// row does not read back.
    pub async fn list_nodes(&self) -> Result<Vec<AttestedNode>, DatastoreError> {
        let sql = format!("SELECT {COLUMNS} FROM attested_nodes ORDER BY spiffe_id");
        self.fetch_all(sqlx::query(AssertSqlSafe(sql)), from_row)
            .await
    }

    /// Evicts an agent: its record is deleted, so it must attest again. Returns it.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the agent has no record; [`DatastoreError::Database`] if
    /// the write fails.
    pub async fn delete_node(&self, id: &SpiffeId) -> Result<AttestedNode, DatastoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!("DELETE FROM attested_nodes WHERE spiffe_id = $1 RETURNING {COLUMNS}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| DatastoreError::NotFound("agent not found".into()))?;
        let node = from_row(&row)?;
        notify_and_commit(self, tx, &ChangeEvent::Node(id.to_string())).await?;
        Ok(node)
    }

    /// Bans an agent: it keeps its record, loses its SVID serials, and cannot attest again.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the agent has no record; [`DatastoreError::Database`] if
    /// the write fails.
    pub async fn ban_node(&self, id: &SpiffeId) -> Result<(), DatastoreError> {
        let write = sqlx::query(
            "UPDATE attested_nodes SET banned = 1, serial_number = '', new_serial_number = '', \
             updated_at = $2 WHERE spiffe_id = $1",
        )
        .bind(id.to_string())
        .bind(now_unix());
        self.write_node(write, id).await
    }

    /// Runs `write` on the record of agent `id`, then notifies and commits.
    async fn write_node(&self, write: AnyQuery<'_>, id: &SpiffeId) -> Result<(), DatastoreError> {
        self.write_one(write, "agent not found", &ChangeEvent::Node(id.to_string()))
            .await
    }
}
