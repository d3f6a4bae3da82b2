//! Waiting between retries: exponential backoff with jitter, capped, and at least as long as
//! the server asked (`grpc-retry-pushback-ms`).

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The first wait.
const FIRST: Duration = Duration::from_millis(200);

/// A uniform value in [-1, 1] (rotation and backoff jitter).
pub(crate) fn jitter() -> f64 {
    let mut b = [0u8; 4];
    if SystemRandom::new().fill(&mut b).is_err() {
        return 0.0;
    }
    f64::from(u32::from_be_bytes(b)) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// Exponential backoff with ±20 % jitter, doubling from 200 ms up to a cap.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(max: Duration) -> Self {
        Backoff { next: FIRST, max }
    }

    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }

    /// The next wait: the backoff's, or what the server asked for if that is longer (plus
    /// jitter, so agents told the same do not come back in step).
    pub(crate) fn next_wait(&mut self, asked: Option<Duration>) -> Duration {
        let own = self.next.mul_f64(1.0 + 0.2 * jitter());
        self.next = (self.next * 2).min(self.max);
        match asked {
            Some(asked) if asked > own => asked.mul_f64(1.0 + 0.1 * jitter().abs()),
            _ => own,
        }
    }

    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next_wait(None)).await;
    }
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
        let mut b = Backoff::new(Duration::from_secs(1));
        let first = b.next_wait(None);
        assert!(first >= Duration::from_millis(160) && first <= Duration::from_millis(240));
        for _ in 0..10 {
            b.next_wait(None);
        }
        let capped = b.next_wait(None);
        assert!(capped <= Duration::from_millis(1200), "{capped:?}");
        let asked = b.next_wait(Some(Duration::from_secs(5)));
        assert!(asked >= Duration::from_secs(5) && asked <= Duration::from_millis(5500));
        b.reset();
        assert!(b.next_wait(None) <= Duration::from_millis(240));

        let mut status = tonic::Status::resource_exhausted("slow down");
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
    }
}
