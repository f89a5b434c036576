//! What the pools remember about users and checked tokens: one bound for the whole process,
//! whatever the number of pools.
//!
//! Each pool used to keep its own maps (4,096 users, 4,096 subjects, 4,096 checked tokens:
//! ~7 MiB when full), so memory grew with the number of pools in use: a hundred busy pools
//! could hold ~700 MiB. Now every pool's entries share three least-recently-used maps, each
//! entry keyed by its *epoch*: a number a pool's runtime takes when it is built (its tokens
//! and users) and again whenever its users must be forgotten. Forgetting is taking a new
//! epoch, so that a read that raced it cannot be remembered under the new one, and dropping
//! the old epoch's entries (a scan of the maps, skipped when none was remembered; freeing
//! what it drops costs what clearing a pool's own maps did), so that a pool whose users
//! change often does not push the other pools' entries out with its own dead ones. A runtime
//! replaced by a reload drops its entries the same way. Keycloak bounds its user cache the
//! same way: one size for every realm.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashlink::LruCache;

use crate::store::sql::federation::LinkedIdentity;
use crate::store::sql::users::User;

/// Users remembered at most, every pool together (a `User` is ~1 KiB, an estimate: ~4 MiB),
/// and as many subjects (sharing those records); past it the least recently used goes.
pub const USERS: usize = 4_096;

/// Checked tokens remembered at most, every pool together (~700 bytes each: ~3 MiB). A token
/// is remembered at its second check: most access tokens are checked once (a sign-in's token
/// sent to one API call), and remembering those would only push out the ones a resource
/// server presents again and again. The tokens checked once are kept as their keys alone
/// (as many, ~100 bytes each) until they come back or age out.
pub const TOKENS: usize = 4_096;

/// What tokens say about a user: the user record, their groups (lowest precedence first),
/// those groups' roles, and their linked upstream identities (oldest first).
#[derive(Debug)]
pub struct Subject {
    pub user: Arc<User>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub identities: Vec<LinkedIdentity>,
}

/// A checked token: its `typ` header and its claims, kept as JSON text (an access token's
/// claims parsed into a map take ~3 KiB, their text ~500 bytes) and parsed on each use, which
/// costs about what cloning the map did.
#[derive(Debug)]
pub struct Verified {
    pub typ: Option<String>,
    claims: Box<str>,
}

impl Verified {
    pub fn new(
        typ: Option<String>,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Self> {
        let claims = serde_json::to_string(claims).ok()?.into_boxed_str();
        Some(Self { typ, claims })
    }

    /// The claims (`None` only if the remembered text no longer parses, which it always does).
    pub fn claims(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_str(&self.claims).ok()
    }
}

/// The process's maps, shared by every pool's runtime.
pub struct Remembered {
    maps: Mutex<Maps>,
    /// The next epoch to hand out.
    epochs: AtomicU64,
}

/// The maps themselves (opaque outside this module).
pub struct Maps {
    users: LruCache<(u64, String), Arc<User>>,
    subjects: LruCache<(u64, String), Arc<Subject>>,
    tokens: LruCache<(u64, u128), Arc<Verified>>,
    /// Tokens checked once, by key: the next check remembers them.
    seen_once: LruCache<(u64, u128), ()>,
}

/// Counts only: the entries hold users' records (password hashes among them).
impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (users, subjects, tokens) = self.len();
        f.debug_struct("Remembered")
            .field("users", &users)
            .field("subjects", &subjects)
            .field("tokens", &tokens)
            .finish_non_exhaustive()
    }
}

impl Default for Remembered {
    fn default() -> Self {
        Self::new(USERS, TOKENS)
    }
}

impl Remembered {
    /// Maps holding at most `users` users (and as many subjects) and `tokens` tokens.
    pub fn new(users: usize, tokens: usize) -> Self {
        Self {
            maps: Mutex::new(Maps {
                users: LruCache::new(users.max(1)),
                subjects: LruCache::new(users.max(1)),
                tokens: LruCache::new(tokens.max(1)),
                seen_once: LruCache::new(tokens.max(1)),
            }),
            epochs: AtomicU64::new(0),
        }
    }

    fn epoch(&self) -> u64 {
        self.epochs.fetch_add(1, Ordering::Relaxed)
    }

    /// Entries held now: (users, subjects, tokens).
    pub fn len(&self) -> (usize, usize, usize) {
        self.maps
            .lock()
            .map(|m| (m.users.len(), m.subjects.len(), m.tokens.len()))
            .unwrap_or_default()
    }
}

/// A kind of user entry: where it lives, and what else remembering it remembers.
pub trait UserEntry: Sized {
    #[doc(hidden)]
    fn map(maps: &mut Maps) -> &mut LruCache<(u64, String), Arc<Self>>;
    #[doc(hidden)]
    fn also(_maps: &mut Maps, _key: &(u64, String), _entry: &Arc<Self>) {}
}

impl UserEntry for User {
    fn map(maps: &mut Maps) -> &mut LruCache<(u64, String), Arc<Self>> {
        &mut maps.users
    }
}

impl UserEntry for Subject {
    fn map(maps: &mut Maps) -> &mut LruCache<(u64, String), Arc<Self>> {
        &mut maps.subjects
    }

    /// A subject's user is also the user by that sub (for userinfo and introspection).
    fn also(maps: &mut Maps, key: &(u64, String), subject: &Arc<Self>) {
        maps.users.insert(key.clone(), subject.user.clone());
    }
}

/// One pool runtime's part of the shared maps.
#[derive(Debug)]
pub struct PoolMemory {
    shared: Arc<Remembered>,
    /// The epoch of this runtime's tokens: a runtime lives until its pool changes (keys
    /// rotated or revoked, clients edited), and then every token it checked is forgotten.
    tokens: u64,
    /// The epoch of its users now; changed only under the maps' lock.
    users: AtomicU64,
    /// The pool's users version its user entries are at least as new as.
    version: AtomicI64,
    /// Has a user of this epoch been remembered? (Forgetting scans the maps only then: a
    /// pool being written to, by sign-ups say, is often not being read.) Under the maps' lock.
    remembered_users: AtomicBool,
}

impl PoolMemory {
    /// A new runtime's part, its users at the pool's `users_version`.
    pub fn new(shared: Arc<Remembered>, users_version: i64) -> Self {
        Self {
            tokens: shared.epoch(),
            users: AtomicU64::new(shared.epoch()),
            version: AtomicI64::new(users_version),
            remembered_users: AtomicBool::new(false),
            shared,
        }
    }

    /// The remembered checked token under `key`.
    pub fn token(&self, key: u128) -> Option<Arc<Verified>> {
        let mut maps = self.shared.maps.lock().ok()?;
        maps.tokens.get(&(self.tokens, key)).cloned()
    }

    /// Remembers a token that passed its check, if it passed one before (see [`TOKENS`]).
    pub fn remember_token(&self, key: u128, checked: Arc<Verified>) {
        if let Ok(mut maps) = self.shared.maps.lock() {
            let key = (self.tokens, key);
            if maps.seen_once.remove(&key).is_some() {
                maps.tokens.insert(key, checked);
            } else {
                maps.seen_once.insert(key, ());
            }
        }
    }

    /// `sub`'s entry of kind `T`: from memory, or read with `load` and remembered (with what
    /// [`UserEntry::also`] remembers) unless this pool's users were forgotten while `load`
    /// ran (it would be under the old epoch, never read again: not worth its room). `None`
    /// from `load` is never remembered.
    pub async fn read_through<T, F, E>(&self, sub: &str, load: F) -> Result<Option<Arc<T>>, E>
    where
        T: UserEntry,
        F: Future<Output = Result<Option<T>, E>>,
    {
        let epoch = match self.shared.maps.lock() {
            Ok(mut maps) => {
                let epoch = self.users.load(Ordering::Relaxed);
                if let Some(hit) = T::map(&mut maps).get(&(epoch, sub.to_string())) {
                    return Ok(Some(hit.clone()));
                }
                Some(epoch)
            }
            Err(_) => None,
        };
        let Some(fresh) = load.await? else {
            return Ok(None);
        };
        let fresh = Arc::new(fresh);
        if let (Some(epoch), Ok(mut maps)) = (epoch, self.shared.maps.lock())
            && self.users.load(Ordering::Relaxed) == epoch
        {
            let key = (epoch, sub.to_string());
            self.remembered_users.store(true, Ordering::Relaxed);
            T::also(&mut maps, &key, &fresh);
            T::map(&mut maps).insert(key, fresh.clone());
        }
        Ok(Some(fresh))
    }

    /// Forgets every user of this pool (this instance changed one).
    pub fn forget_users(&self) {
        if let Ok(mut maps) = self.shared.maps.lock() {
            self.forget(&mut maps);
        }
    }

    /// Forgets every user of this pool when the stored users version moved past theirs.
    pub fn users_at(&self, version: i64) {
        if let Ok(mut maps) = self.shared.maps.lock()
            && self.version.swap(version, Ordering::Relaxed) != version
        {
            self.forget(&mut maps);
        }
    }

    /// A new users epoch, the old one's entries dropped (under the maps' lock).
    fn forget(&self, maps: &mut Maps) {
        let old = self.users.swap(self.shared.epoch(), Ordering::Relaxed);
        if self.remembered_users.swap(false, Ordering::Relaxed) {
            maps.drop_users(old);
        }
    }
}

impl Drop for PoolMemory {
    /// A replaced runtime's entries would never be read again: their room goes back.
    fn drop(&mut self) {
        if let Ok(mut maps) = self.shared.maps.lock() {
            if self.remembered_users.load(Ordering::Relaxed) {
                maps.drop_users(self.users.load(Ordering::Relaxed));
            }
            let tokens = self.tokens;
            maps.tokens.retain(|(epoch, _), _| *epoch != tokens);
            maps.seen_once.retain(|(epoch, _), _| *epoch != tokens);
        }
    }
}

impl Maps {
    fn drop_users(&mut self, epoch: u64) {
        self.users.retain(|(e, _), _| *e != epoch);
        self.subjects.retain(|(e, _), _| *e != epoch);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::convert::Infallible;

    fn user(sub: &str) -> User {
        crate::store::sql::users::tests::sample(sub)
    }

    /// Two pools' parts of shared maps holding `users` users and as many tokens, their users
    /// at `version`.
    fn two_pools(users: usize, version: i64) -> (Arc<Remembered>, PoolMemory, PoolMemory) {
        let shared = Arc::new(Remembered::new(users, users));
        let a = PoolMemory::new(shared.clone(), version);
        let b = PoolMemory::new(shared.clone(), version);
        (shared, a, b)
    }

    /// Reads `sub` through `pool`'s memory; whether `load` ran.
    async fn read(pool: &PoolMemory, sub: &str) -> bool {
        let mut loaded = false;
        let load = async {
            loaded = true;
            Ok::<_, Infallible>(Some(user(sub)))
        };
        let found: Option<Arc<User>> = pool.read_through(sub, load).await.unwrap();
        assert_eq!(found.unwrap().username, sub);
        loaded
    }

    #[tokio::test]
    async fn every_pool_shares_one_bound() {
        let (shared, a, b) = two_pools(4, 0);
        for sub in ["a1", "a2", "a3"] {
            assert!(read(&a, sub).await);
        }
        for sub in ["b1", "b2", "b3"] {
            assert!(read(&b, sub).await);
        }
        assert_eq!(shared.len().0, 4, "two pools, one bound");
        // The least recently used went, whichever pool they were of; the rest is served.
        assert!(read(&a, "a1").await);
        assert!(!read(&b, "b3").await);
        // The same sub in another pool is another entry.
        assert!(read(&a, "b3").await);
    }

    #[tokio::test]
    async fn forgetting_a_pools_users_leaves_the_others() {
        let (shared, a, b) = two_pools(8, 7);
        assert!(read(&a, "u").await);
        assert!(read(&b, "u").await);
        a.forget_users();
        assert_eq!(
            shared.len().0,
            1,
            "the forgotten entry's room is given back"
        );
        assert!(read(&a, "u").await, "forgotten");
        assert!(!read(&b, "u").await, "another pool's user stays");
        b.users_at(7);
        assert!(!read(&b, "u").await, "the same version keeps them");
        b.users_at(8);
        assert!(read(&b, "u").await, "a newer version forgets them");
    }

    #[tokio::test]
    async fn a_read_that_raced_a_forget_is_not_remembered() {
        let shared = Arc::new(Remembered::new(8, 8));
        let pool = PoolMemory::new(shared.clone(), 0);
        let load = async {
            pool.forget_users();
            Ok::<_, Infallible>(Some(user("u")))
        };
        let _: Option<Arc<User>> = pool.read_through("u", load).await.unwrap();
        assert!(read(&pool, "u").await, "the raced read is not served");
        assert!(!read(&pool, "u").await);
        assert_eq!(shared.len().0, 1, "nor kept where it would take room");
    }

    #[tokio::test]
    async fn a_subject_also_remembers_its_user_and_a_missing_user_nothing() {
        let shared = Arc::new(Remembered::new(8, 8));
        let pool = PoolMemory::new(shared.clone(), 0);
        let subject = async {
            Ok::<_, Infallible>(Some(Subject {
                user: Arc::new(user("s")),
                groups: vec![],
                roles: vec![],
                identities: vec![],
            }))
        };
        let _: Option<Arc<Subject>> = pool.read_through("s", subject).await.unwrap();
        assert!(!read(&pool, "s").await, "the subject's user is remembered");
        let missing = async { Ok::<Option<User>, Infallible>(None) };
        assert!(pool.read_through("m", missing).await.unwrap().is_none());
        assert_eq!(shared.len(), (1, 1, 0));
    }

    #[test]
    fn a_new_runtime_forgets_the_tokens_its_predecessor_checked() {
        let shared = Arc::new(Remembered::new(8, 2));
        let old = PoolMemory::new(shared.clone(), 0);
        let checked = Arc::new(Verified::new(None, &serde_json::Map::new()).unwrap());
        old.remember_token(1, checked.clone());
        old.remember_token(1, checked.clone());
        assert!(old.token(1).is_some());
        let new = PoolMemory::new(shared.clone(), 0);
        assert!(new.token(1).is_none(), "reloaded: keys may have changed");
        for key in [2, 2, 3, 3] {
            new.remember_token(key, checked.clone());
        }
        assert_eq!(shared.len().2, 2, "the stale entry made room");
        assert!(old.token(1).is_none());
        drop(new);
        assert_eq!(shared.len().2, 0, "a replaced runtime gives its room back");
    }

    #[test]
    fn a_token_is_remembered_at_its_second_check() {
        let shared = Arc::new(Remembered::new(8, 2));
        let pool = PoolMemory::new(shared.clone(), 0);
        let checked = Arc::new(Verified::new(None, &serde_json::Map::new()).unwrap());
        pool.remember_token(1, checked.clone());
        assert!(pool.token(1).is_none(), "checked once");
        pool.remember_token(1, checked.clone());
        assert!(pool.token(1).is_some(), "checked twice");
        // Tokens checked once take no room among the remembered ones.
        for key in 10..20 {
            pool.remember_token(key, checked.clone());
        }
        assert!(pool.token(1).is_some());
        assert_eq!(shared.len().2, 1);
    }
}
