//! Federation relationships in the datastore (`federation_relationships`): the foreign trust
//! domain, its bundle endpoint URL, the endpoint profile and, for `https_spiffe`, the endpoint
//! SPIFFE ID (SPIRE's `federated_trust_domains`). The bundles fetched are stored as federated
//! bundles (`bundles`), not here.

use sqlx::Row;
use sqlx::any::AnyRow;

use spiffe_core::TrustDomain;

use super::events::{ChangeEvent, notify_and_commit};
use super::{Datastore, DatastoreError, already_exists, now_unix};
use crate::federation::{EndpointProfile, EndpointUrl, FederationRelationship};

fn corrupt(trust_domain: &str, reason: impl ToString) -> DatastoreError {
    DatastoreError::Corrupt {
        what: "federation relationship",
        reason: format!("{trust_domain}: {}", reason.to_string()),
    }
}

fn from_row(row: &AnyRow) -> Result<FederationRelationship, DatastoreError> {
    let td: String = row.try_get("trust_domain")?;
    let url: String = row.try_get("bundle_endpoint_url")?;
    let profile: String = row.try_get("bundle_endpoint_profile")?;
    let endpoint_id: String = row.try_get("endpoint_spiffe_id")?;
    Ok(FederationRelationship {
        trust_domain: TrustDomain::parse(&td).map_err(|e| corrupt(&td, e))?,
        bundle_endpoint_url: EndpointUrl::parse(&url).map_err(|e| corrupt(&td, e))?,
        profile: EndpointProfile::from_parts(&profile, &endpoint_id)
            .map_err(|e| corrupt(&td, e))?,
    })
}

const COLUMNS: &str =
    "trust_domain, bundle_endpoint_url, bundle_endpoint_profile, endpoint_spiffe_id";

fn endpoint_id(r: &FederationRelationship) -> String {
    r.profile
        .endpoint_spiffe_id()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn event(td: &TrustDomain) -> ChangeEvent {
    ChangeEvent::FederationRelationship(td.name().to_owned())
}

impl Datastore {
    /// Stores a new federation relationship.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::AlreadyExists`] if the trust domain has one;
    /// [`DatastoreError::Database`] if the write fails.
    pub async fn create_federation_relationship(
        &self,
        r: &FederationRelationship,
    ) -> Result<(), DatastoreError> {
        let now = now_unix();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO federation_relationships (trust_domain, bundle_endpoint_url, \
             bundle_endpoint_profile, endpoint_spiffe_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.trust_domain.name().to_owned())
        .bind(r.bundle_endpoint_url.as_str().to_owned())
        .bind(r.profile.name())
        .bind(endpoint_id(r))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| already_exists(e, "federation relationship already exists"))?;
        notify_and_commit(self, tx, &event(&r.trust_domain)).await
    }

    /// The federation relationship with a trust domain.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if the
    /// stored row does not read back.
    pub async fn fetch_federation_relationship(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<Option<FederationRelationship>, DatastoreError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM federation_relationships WHERE trust_domain = $1"
        )))
        .bind(trust_domain.name().to_owned());
        self.fetch_optional(query, from_row).await
    }

    /// Every federation relationship, ordered by trust domain.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; [`DatastoreError::Corrupt`] if a stored
    /// row does not read back.
    pub async fn list_federation_relationships(
        &self,
    ) -> Result<Vec<FederationRelationship>, DatastoreError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM federation_relationships ORDER BY trust_domain"
        )));
        self.fetch_all(query, from_row).await
    }

    /// Replaces the endpoint URL and profile of an existing relationship.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the trust domain has none; [`DatastoreError::Database`]
    /// if the write fails.
    pub async fn update_federation_relationship(
        &self,
        r: &FederationRelationship,
    ) -> Result<(), DatastoreError> {
        let write = sqlx::query(
            "UPDATE federation_relationships SET bundle_endpoint_url = $2, \
             bundle_endpoint_profile = $3, endpoint_spiffe_id = $4, updated_at = $5 \
             WHERE trust_domain = $1",
        )
        .bind(r.trust_domain.name().to_owned())
        .bind(r.bundle_endpoint_url.as_str().to_owned())
        .bind(r.profile.name())
        .bind(endpoint_id(r))
        .bind(now_unix());
        self.write_one(
            write,
            "federation relationship not found",
            &event(&r.trust_domain),
        )
        .await
    }

    /// Deletes the relationship with a trust domain (its federated bundle stays, as in SPIRE).
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] if the trust domain has none; [`DatastoreError::Database`]
    /// if the write fails.
    pub async fn delete_federation_relationship(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<(), DatastoreError> {
        let write = sqlx::query("DELETE FROM federation_relationships WHERE trust_domain = $1")
            .bind(trust_domain.name().to_owned());
        self.write_one(
            write,
            "federation relationship not found",
            &event(trust_domain),
        )
        .await
    }
}
