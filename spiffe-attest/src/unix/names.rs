//! [`NameCache`]: user and group names of uids and gids, remembered for a short time.
//!
//! Resolving a name goes through NSS (`getpwuid_r`/`getgrgid_r`): a scan of `/etc/passwd` or
//! `/etc/group`, or a round trip to sssd or LDAP. The Workload API attests every call, and the
//! same few uids call again and again, so the answers (including "no such name") are kept for a
//! short time-to-live. A renamed user is seen at the latest one TTL later. The cache is bounded:
//! when full, it is emptied rather than grown.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Group, Uid, User};
use tracing::debug;

/// How long a looked-up name is trusted.
pub(crate) const DEFAULT_NAME_TTL: Duration = Duration::from_secs(30);

/// At most this many uids (and as many gids) are remembered.
const MAX_ENTRIES: usize = 4096;

/// Which name database an id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `passwd`: user names of uids.
    User,
    /// `group`: group names of gids.
    Group,
}

/// One remembered answer.
#[derive(Debug, Clone)]
struct Cached {
    name: Option<String>,
    at: Instant,
}

/// Names of uids and gids, each kept for a TTL.
#[derive(Debug)]
pub(crate) struct NameCache {
    ttl: Duration,
    users: Mutex<HashMap<u32, Cached>>,
    groups: Mutex<HashMap<u32, Cached>>,
}

impl NameCache {
    /// An empty cache whose answers live `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        NameCache {
            ttl,
            users: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self, kind: Kind) -> &Mutex<HashMap<u32, Cached>> {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    /// The remembered name of `id`: `None` if it is not known (or too old), `Some(None)` if it
    /// is known to have no name.
    pub(crate) fn cached(&self, kind: Kind, id: u32) -> Option<Option<String>> {
        let map = self
            .map(kind)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&id)
            .filter(|c| c.at.elapsed() < self.ttl)
            .map(|c| c.name.clone())
    }

    /// The name of `id`, from the cache or else from NSS (which may block).
    pub(crate) fn resolve(&self, kind: Kind, id: u32) -> Option<String> {
        if let Some(hit) = self.cached(kind, id) {
            return hit;
        }
        let name = match kind {
            Kind::User => lookup_user(id),
            Kind::Group => lookup_group(id),
        };
        let mut map = self
            .map(kind)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            id,
            Cached {
                name: name.clone(),
                at: Instant::now(),
            },
        );
        name
    }
}

/// The user name of `uid`, if it has one (lookup errors count as "no name", as in SPIRE).
fn lookup_user(uid: u32) -> Option<String> {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) if !user.name.is_empty() => Some(user.name),
        Ok(_) => None,
        Err(err) => {
            debug!(uid, error = %err, "user lookup failed");
            None
        }
    }
}

/// The group name of `gid`, if it has one.
fn lookup_group(gid: u32) -> Option<String> {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(group)) if !group.name.is_empty() => Some(group.name),
        Ok(_) => None,
        Err(err) => {
            debug!(gid, error = %err, "group lookup failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_resolved_once_then_served_from_the_cache() {
        let cache = NameCache::new(Duration::from_secs(60));
        assert_eq!(cache.cached(Kind::User, 0), None);
        assert_eq!(cache.resolve(Kind::User, 0).as_deref(), Some("root"));
        assert_eq!(cache.cached(Kind::User, 0), Some(Some("root".to_owned())));
        // Users and groups are separate databases.
        assert_eq!(cache.cached(Kind::Group, 0), None);
    }

    #[test]
    fn ids_without_a_name_are_remembered_as_such() {
        let cache = NameCache::new(Duration::from_secs(60));
        let unused = 3_999_999_u32;
        assert_eq!(cache.resolve(Kind::Group, unused), None);
        assert_eq!(cache.cached(Kind::Group, unused), Some(None));
    }

    #[test]
    fn answers_expire_after_the_ttl() {
        let cache = NameCache::new(Duration::ZERO);
        assert_eq!(cache.resolve(Kind::User, 0).as_deref(), Some("root"));
        assert_eq!(cache.cached(Kind::User, 0), None);
    }
}
