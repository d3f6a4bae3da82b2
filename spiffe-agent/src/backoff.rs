//! The agent's retries: the workspace's [`Backoff`] (`spiffe_core::backoff`) from 200 ms, and
//! the wait a server asks for in a status (`grpc-retry-pushback-ms`).

use std::time::Duration;

use spiffe_core::backoff::{Backoff, random_unit};

/// The first wait.
const FIRST: Duration = Duration::from_millis(200);

/// Exponential backoff from 200 ms, doubling up to `max`, with 20 % jitter.
pub(crate) fn retry_backoff(max: Duration) -> Backoff {
    Backoff::new(FIRST, max)
}

/// A uniform value in [-1, 1) (rotation jitter).
pub(crate) fn jitter() -> f64 {
    random_unit().mul_add(2.0, -1.0)
}

/// The wait a server asked for in a status (gRPC's `grpc-retry-pushback-ms`), capped at
/// `max`.
pub(crate) fn pushback(status: &tonic::Status, max: Duration) -> Option<Duration> {
    let ms: u64 = status
        .metadata()
        .get("grpc-retry-pushback-ms")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_millis(ms).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_honours_a_longer_pushback() {
        let mut b = retry_backoff(Duration::from_secs(1));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(160) && first <= Duration::from_millis(240));
        for _ in 0..10 {
            b.next_delay();
        }
        let capped = b.next_delay();
        assert!(capped <= Duration::from_millis(1200), "{capped:?}");

        let mut status = tonic::Status::resource_exhausted("slow down");
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "5000".parse().unwrap());
        let asked = pushback(&status, Duration::from_secs(30)).unwrap_or_default();
        assert_eq!(asked, Duration::from_secs(5));
        let waited = b.next_delay_at_least(asked);
        assert!(waited >= Duration::from_secs(5) && waited <= Duration::from_millis(5500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(240));

        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "1500".parse().unwrap());
        assert_eq!(
            pushback(&status, Duration::from_secs(30)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            pushback(&status, Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(pushback(&tonic::Status::internal("x"), Duration::MAX), None);
        for _ in 0..100 {
            assert!((-1.0..=1.0).contains(&jitter()));
        }
    }
}
