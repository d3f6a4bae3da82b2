//! The datastore: one schema and one code path (sqlx's `Any` driver) for SQLite and PostgreSQL.
//!
//! SQLite is the embedded default (`<dataDir>/datastore.sqlite3`, WAL, busy timeout);
//! PostgreSQL is for several servers sharing one database. Migrations run at open. Every write
//! that other servers must see also sends a PostgreSQL notification in the same transaction, so
//! their caches follow without reloading everything ([`Datastore::listen`]).

mod bundles;
mod entries;
mod events;
mod federation;
mod nodes;
mod schema;
mod tokens;

pub use events::{ChangeEvent, EventStream};
pub use nodes::AttestedNode;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use thiserror::Error;
use tracing::info;

/// Which database is behind the datastore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Why a datastore operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DatastoreError {
    /// The database URL is not one this datastore understands.
    #[error("datastore URL {url:?} is not supported (sqlite://PATH or postgres://...)")]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// The object exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A stored row that does not read back.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The datastore.
#[derive(Debug, Clone)]
pub struct Datastore {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

/// The PostgreSQL notification channel of datastore changes.
pub(crate) const CHANNEL: &str = "spiffe_datastore_events";

impl Datastore {
    /// Opens (creating if needed) the SQLite datastore at `path`.
    ///
    /// # Errors
    ///
    /// As [`Datastore::open`].
    pub async fn open_sqlite(path: &Path) -> Result<Self, DatastoreError> {
        Self::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens the datastore at `url` (`sqlite://PATH[?mode=rwc]` or `postgres://...`) and applies
    /// the migrations.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::UnsupportedUrl`] for a URL that is neither `sqlite:` nor
    /// `postgres://`; [`DatastoreError::Database`] if the URL's options do not parse, the
    /// database cannot be reached or a migration fails.
    pub async fn open(url: &str) -> Result<Self, DatastoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DatastoreError::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer; NORMAL sync is durable against a
                        // process crash (kill -9); the busy timeout waits for the other writer.
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            });
        let pool = pool_options.connect_with(options).await?;
        let ds = Datastore {
            pool,
            backend,
            url: url.to_owned(),
        };
        schema::migrate(&ds).await?;
        info!(backend = ?backend, "datastore open");
        Ok(ds)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The URL it was opened with.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction that reads before writing waits for other writers instead
    /// of failing when it upgrades its lock.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Runs `write`, which must touch one row, then notifies `event` and commits.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::NotFound`] with `not_found` if `write` touched no row;
    /// [`DatastoreError::Database`] if the write or the commit fails.
    pub(crate) async fn write_one(
        &self,
        write: AnyQuery<'_>,
        not_found: &str,
        event: &ChangeEvent,
    ) -> Result<(), DatastoreError> {
        let mut tx = self.begin_write().await?;
        let done = write.execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(DatastoreError::NotFound(not_found.into()));
        }
        events::notify_and_commit(self, tx, event).await
    }

    /// Runs `query` and reads the row it returns, if any, with `read`.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; what `read` returns.
    pub(crate) async fn fetch_optional<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl Fn(&AnyRow) -> Result<T, DatastoreError>,
    ) -> Result<Option<T>, DatastoreError> {
        query
            .fetch_optional(&self.pool)
            .await?
            .map(|r| read(&r))
            .transpose()
    }

    /// Runs `query` and reads every row it returns with `read`.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the query fails; what `read` returns.
    pub(crate) async fn fetch_all<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl Fn(&AnyRow) -> Result<T, DatastoreError>,
    ) -> Result<Vec<T>, DatastoreError> {
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(read)
            .collect()
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    ///
    /// [`DatastoreError::Database`] if the database does not answer.
    pub async fn ping(&self) -> Result<(), DatastoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A query with its arguments bound, not yet run.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A failed insert or update: [`DatastoreError::AlreadyExists`] with `what` if it broke a
/// unique constraint, [`DatastoreError::Database`] otherwise.
pub(crate) fn already_exists(e: sqlx::Error, what: &str) -> DatastoreError {
    if is_unique_violation(&e) {
        DatastoreError::AlreadyExists(what.into())
    } else {
        e.into()
    }
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.kind() == sqlx::error::ErrorKind::UniqueViolation
                || db.message().contains("UNIQUE constraint failed")
                || db.code().is_some_and(|c| c == "23505")
        }
        _ => false,
    }
}
