//! Waiting between retries: exponential backoff with jitter, and a wait a server asked for.
//!
//! [`Backoff`] only computes the delays; sleeping is the caller's (this crate has no async
//! runtime). Jitter spreads clients that failed together so that they do not retry in step.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// A uniformly distributed number in `[0, 1)` (0.5 if the system's random source fails), for
/// jitter: spread, not secrecy.
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.5;
    }
    // The top 53 bits: as many as an f64's mantissa holds.
    let bits = u64::from_be_bytes(bytes) >> 11;
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

/// `d * factor` for a `factor` in `[0, 1]`: never more than `d`, and no panic where
/// [`Duration::mul_f64`] would round past [`Duration::MAX`].
fn scaled(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).map_or(d, |s| s.min(d))
}

/// Exponential backoff with jitter: the n-th delay is drawn from `[base * (1 - jitter), base]`,
/// where `base = min(initial * multiplier^n, max)`; never longer than the base, so `max` is a
/// true bound.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: u32,
    jitter: f64,
    current: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 30 s, with 20 % jitter (go-spiffe's shape).
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

impl Backoff {
    /// A backoff from `initial` doubling up to `max` (at least `initial`), with 20 % jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            multiplier: 2,
            jitter: 0.2,
            current: initial,
        }
    }

    /// The same with another growth factor (at least 1).
    pub fn with_multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = multiplier.max(1);
        self
    }

    /// The same with another jitter fraction, clamped to `0.0..=1.0` (0: exact delays).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The next delay to wait; each call grows the base.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = base
            .saturating_mul(self.multiplier)
            .min(self.max)
            .max(self.initial);
        base.saturating_sub(scaled(base, self.jitter * random_unit()))
    }

    /// The next delay, or `asked` (a wait the server asked for, as gRPC's
    /// `grpc-retry-pushback-ms`) if that is longer, stretched by up to 10 % so that clients
    /// told the same do not come back in step. Either way the base grows.
    pub fn next_delay_at_least(&mut self, asked: Duration) -> Duration {
        let own = self.next_delay();
        if asked > own {
            asked.saturating_add(scaled(asked, 0.1 * random_unit()))
        } else {
            own
        }
    }

    /// Starts again from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_jitters_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let d: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        let bases = [100, 200, 350, 350, 350];
        for (delay, base) in d.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(
                *delay <= base && *delay >= base.mul_f64(0.8),
                "{delay:?} vs {base:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        let mut exact =
            Backoff::new(Duration::from_millis(10), Duration::from_secs(1)).with_jitter(0.0);
        assert_eq!(exact.next_delay(), Duration::from_millis(10));
        assert_eq!(exact.next_delay(), Duration::from_millis(20));
        let mut tripling = Backoff::new(Duration::from_millis(10), Duration::from_secs(1))
            .with_jitter(f64::NAN)
            .with_multiplier(3);
        tripling.next_delay();
        assert_eq!(tripling.next_delay(), Duration::from_millis(30));
    }

    #[test]
    fn jitter_spreads() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            seen.insert(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay());
        }
        assert!(seen.len() > 1);
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }

    #[test]
    fn honours_a_longer_wait_asked_for() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
        let first = b.next_delay_at_least(Duration::ZERO);
        assert!(first >= Duration::from_millis(160) && first <= Duration::from_millis(200));
        for _ in 0..10 {
            b.next_delay();
        }
        assert!(b.next_delay() <= Duration::from_secs(1));
        let asked = b.next_delay_at_least(Duration::from_secs(5));
        assert!(asked >= Duration::from_secs(5) && asked <= Duration::from_millis(5500));
        let shorter = b.next_delay_at_least(Duration::from_millis(1));
        assert!(shorter >= Duration::from_millis(800), "{shorter:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
        let mut huge = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(huge.next_delay_at_least(Duration::MAX), Duration::MAX);
        let mut widest = Backoff::new(Duration::MAX, Duration::MAX).with_jitter(1.0);
        assert!(widest.next_delay() <= Duration::MAX);
    }
}
