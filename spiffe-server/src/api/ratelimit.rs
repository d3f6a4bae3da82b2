//! Attestation attempts per source address (SPIRE limits node attestation per IP address too),
//! on governor's keyed GCRA limiter. IPv6 addresses count per /64, the block one host usually
//! holds. The table is bounded: past [`MAX_TRACKED`] addresses, those whose allowance is full
//! again are forgotten, and if the table is still full every address shares one bucket.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

/// Addresses tracked at most.
pub(crate) const MAX_TRACKED: usize = 65_536;

/// The key of an address: IPv4 as is, IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Addr(IpAddr),
    /// Every address while the table is full.
    Overflow,
}

fn key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(_) => Key::Addr(ip),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Key::Addr(IpAddr::V4(v4)),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Key::Addr(IpAddr::V6(prefix.into()))
            }
        },
    }
}

/// governor's keyed limiter over a `HashMap`, on clock `C`.
type KeyedGcra<C> = Gcra<Key, HashMapStateStore<Key>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Attempts per second and burst, per source address.
pub(crate) struct RateLimiter<C: Clock = MonotonicClock> {
    gcra: Option<KeyedGcra<C>>,
    clock: C,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.gcra.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `rate` attempts per second sustained, `burst` at once; a rate of 0 admits everything.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self::with_clock(rate, burst, MonotonicClock)
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// [`RateLimiter::new`] on `clock`.
    pub(crate) fn with_clock(rate: u32, burst: u32, clock: C) -> Self {
        let gcra = NonZeroU32::new(rate).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            Gcra::hashmap_with_clock(Quota::per_second(rate).allow_burst(burst), clock.clone())
        });
        RateLimiter { gcra, clock }
    }

    /// Takes one attempt for `ip`: `Ok` if admitted, else how long until the next attempt
    /// would be.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(gcra) = &self.gcra else {
            return Ok(());
        };
        let mut k = key(ip);
        if gcra.len() >= MAX_TRACKED {
            gcra.retain_recent();
            if gcra.len() >= MAX_TRACKED {
                k = Key::Overflow;
            }
        }
        gcra.check_key(&k)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn burst_then_rate_per_address() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(2, 3, clock.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        let wait = limiter.check(a).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another address has its own bucket.
        assert_eq!(limiter.check(b), Ok(()));
        // Half a second later one attempt is back.
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check(a), Ok(()));
        assert!(limiter.check(a).is_err());
        // No limit at rate 0.
        let open = RateLimiter::new(0, 0);
        for _ in 0..100 {
            assert_eq!(open.check(a), Ok(()));
        }
    }

    #[test]
    fn ipv6_counts_per_64() {
        let limiter = RateLimiter::with_clock(1, 1, FakeRelativeClock::default());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(limiter.check(a), Ok(()));
        assert!(limiter.check(b).is_err(), "same /64");
        assert_eq!(limiter.check(other), Ok(()));
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert_eq!(limiter.check(mapped), Ok(()));
        assert!(limiter.check("10.0.0.9".parse().unwrap()).is_err());
    }

    #[test]
    fn the_table_is_bounded() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(1, 1, clock.clone());
        for i in 0..MAX_TRACKED as u32 {
            assert_eq!(limiter.check(IpAddr::V4(i.into())), Ok(()));
        }
        // Full of addresses in debt: a new one shares the overflow bucket.
        let new = IpAddr::V4(u32::MAX.into());
        assert_eq!(limiter.check(new), Ok(()));
        assert!(limiter.check(new).is_err());
        assert!(limiter.gcra.as_ref().unwrap().len() <= MAX_TRACKED + 1);
        // Once their allowance is back they are forgotten and addresses count alone again.
        clock.advance(Duration::from_secs(2));
        assert_eq!(limiter.check(new), Ok(()));
        assert!(limiter.gcra.as_ref().unwrap().len() < 10);
    }
}
