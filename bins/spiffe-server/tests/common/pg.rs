//! A fresh PostgreSQL database per test on 127.0.0.1:5432 (trust auth), as the server
//! library's tests make them. `SPIFFE_TEST_POSTGRES` overrides the admin URL.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The URL of the maintenance database used to create and drop test databases.
pub fn admin_url() -> String {
    std::env::var("SPIFFE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A database dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database with a unique name.
    pub fn create() -> TestDb {
        let admin = admin_url();
        let name = format!("spiffe_cli_{}", uuid::Uuid::new_v4().simple());
        block_on(async {
            let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                panic!("PostgreSQL must be reachable at {admin} (./scripts/test starts it): {e}")
            });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
        });
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        TestDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = admin_url();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
