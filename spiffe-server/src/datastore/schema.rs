//! The schema and its migrations: one schema, the column types spelled for each backend.

use sqlx::{AssertSqlSafe, Row};
use tracing::info;

use super::{Backend, Datastore, DatastoreError, now_unix};

/// One migration: its version, its statements (`{BIG}` is the 64-bit integer type, `{BLOB}`
/// the byte-string type of the backend), a step in Rust for what SQL cannot do the same way on
/// both backends, and statements after that step.
struct Migration {
    version: i64,
    statements: &'static [&'static str],
    step: Option<Step>,
    after: &'static [&'static str],
}

/// A migration step in Rust.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Copies the join tokens that have not expired into `join_token_hashes`, hashed.
    HashJoinTokens,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        statements: &[
            "CREATE TABLE registered_entries (
            id TEXT PRIMARY KEY,
            spiffe_id TEXT NOT NULL,
            parent_id TEXT NOT NULL,
            selectors TEXT NOT NULL,
            x509_svid_ttl {BIG} NOT NULL,
            jwt_svid_ttl {BIG} NOT NULL,
            dns_names TEXT NOT NULL,
            federates_with TEXT NOT NULL,
            admin {BIG} NOT NULL,
            downstream {BIG} NOT NULL,
            store_svid {BIG} NOT NULL,
            disable_x509_svid_prefetch {BIG} NOT NULL,
            jwt_svid_include_jti {BIG} NOT NULL,
            expires_at {BIG} NOT NULL,
            hint TEXT NOT NULL,
            revision_number {BIG} NOT NULL,
            created_at {BIG} NOT NULL,
            similarity_key TEXT NOT NULL UNIQUE
        )",
            "CREATE INDEX registered_entries_parent ON registered_entries (parent_id)",
            "CREATE TABLE attested_nodes (
            spiffe_id TEXT PRIMARY KEY,
            attestation_type TEXT NOT NULL,
            serial_number TEXT NOT NULL,
            expires_at {BIG} NOT NULL,
            new_serial_number TEXT NOT NULL,
            new_expires_at {BIG} NOT NULL,
            can_reattest {BIG} NOT NULL,
            banned {BIG} NOT NULL,
            selectors TEXT NOT NULL,
            agent_version TEXT NOT NULL,
            created_at {BIG} NOT NULL,
            updated_at {BIG} NOT NULL
        )",
            "CREATE TABLE join_tokens (
            token TEXT PRIMARY KEY,
            expires_at {BIG} NOT NULL
        )",
            "CREATE TABLE bundles (
            trust_domain TEXT PRIMARY KEY,
            data {BLOB} NOT NULL,
            updated_at {BIG} NOT NULL
        )",
        ],
        step: None,
        after: &[],
    },
    // Join tokens are kept as their SHA-256 only; unexpired tokens stay usable.
    Migration {
        version: 2,
        statements: &["CREATE TABLE join_token_hashes (
            token_hash TEXT PRIMARY KEY,
            expires_at {BIG} NOT NULL
        )"],
        step: Some(Step::HashJoinTokens),
        after: &["DROP TABLE join_tokens"],
    },
    // Federation relationships (the trust domains whose bundle endpoints the server reads).
    Migration {
        version: 3,
        statements: &["CREATE TABLE federation_relationships (
            trust_domain TEXT PRIMARY KEY,
            bundle_endpoint_url TEXT NOT NULL,
            bundle_endpoint_profile TEXT NOT NULL,
            endpoint_spiffe_id TEXT NOT NULL,
            created_at {BIG} NOT NULL,
            updated_at {BIG} NOT NULL
        )"],
        step: None,
        after: &[],
    },
];

fn spell(backend: Backend, statement: &str) -> String {
    let (big, blob) = match backend {
        Backend::Sqlite => ("INTEGER", "BLOB"),
        Backend::Postgres => ("BIGINT", "BYTEA"),
    };
    statement.replace("{BIG}", big).replace("{BLOB}", blob)
}

/// Applies the migrations that are not applied yet, each in its own transaction. Concurrent
/// servers starting on one PostgreSQL database serialize on an advisory lock.
pub(crate) async fn migrate(ds: &Datastore) -> Result<(), DatastoreError> {
    let mut conn = ds.pool().acquire().await?;
    if ds.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7349201)")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(ds, &mut conn).await;
    if ds.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7349201)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(ds: &Datastore, conn: &mut sqlx::AnyConnection) -> Result<(), DatastoreError> {
    sqlx::query(AssertSqlSafe(spell(
        ds.backend(),
        "CREATE TABLE IF NOT EXISTS schema_migrations (version {BIG} PRIMARY KEY, applied_at {BIG} NOT NULL)",
    )))
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    let current: i64 = row.try_get("v")?;
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > latest {
        return Err(DatastoreError::Corrupt {
            what: "schema",
            reason: format!(
                "database schema version {current} is newer than this server knows ({latest})"
            ),
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for statement in m.statements {
            sqlx::query(AssertSqlSafe(spell(ds.backend(), statement)))
                .execute(&mut *tx)
                .await?;
        }
        match m.step {
            Some(Step::HashJoinTokens) => hash_join_tokens(&mut tx).await?,
            None => {}
        }
        for statement in m.after {
            sqlx::query(AssertSqlSafe(spell(ds.backend(), statement)))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(m.version)
            .bind(now_unix())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        info!(version = m.version, "datastore migration applied");
    }
    Ok(())
}

/// [`Step::HashJoinTokens`]: the unexpired rows of `join_tokens` into `join_token_hashes`.
async fn hash_join_tokens(tx: &mut sqlx::AnyConnection) -> Result<(), DatastoreError> {
    let rows = sqlx::query("SELECT token, expires_at FROM join_tokens WHERE expires_at >= $1")
        .bind(now_unix())
        .fetch_all(&mut *tx)
        .await?;
    for row in &rows {
        let token: String = row.try_get("token")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        sqlx::query("INSERT INTO join_token_hashes (token_hash, expires_at) VALUES ($1, $2)")
            .bind(crate::attest::join_token_hash(&token))
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
    }
    if !rows.is_empty() {
        info!(
            tokens = rows.len(),
            "unexpired join tokens now stored hashed"
        );
    }
    Ok(())
}
