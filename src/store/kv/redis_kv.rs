//! Redis-backed key-value store over a reconnecting `ConnectionManager`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::OnceCell;

use crate::store::StoreError;

/// Stores only if nothing live is there; "live" is judged by the sealed expiry, not Redis' TTL.
static PUT_IF_ABSENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
          if v and tonumber(string.sub(v, 1, 16)) > tonumber(ARGV[3]) then return 0 end
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1",
    )
});

/// Fixed-window counter: `e` holds the window's end (ms), `n` the count.
static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local now = tonumber(ARGV[1])
          local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
          if e <= now then
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], 'e', now + tonumber(ARGV[2]))
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
          end
          return redis.call('HINCRBY', KEYS[1], 'n', 1)",
    )
});

/// Gives back one count of a live window (never below zero); a counter given back to zero is
/// deleted, window and all.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
          if e <= tonumber(ARGV[1]) then return 0 end
          local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
          if n <= 1 then redis.call('DEL', KEYS[1]) return 0 end
          return redis.call('HINCRBY', KEYS[1], 'n', -1)",
    )
});

/// Unless KEYS[1] holds a live sealed value, increments each counter KEYS[2..] (fixed windows
/// as in INCR, ARGV[1] = now, ARGV[1 + i] = the window of KEYS[1 + i]) and returns their counts;
/// returns nil, counting nothing, when it does.
static INCR_UNLESS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local now = tonumber(ARGV[1])
          local g = redis.call('GET', KEYS[1])
          if g and tonumber(string.sub(g, 1, 16)) > now then return false end
          local out = {}
          for i = 2, #KEYS do
            local e = tonumber(redis.call('HGET', KEYS[i], 'e') or '0')
            if e <= now then
              redis.call('DEL', KEYS[i])
              redis.call('HSET', KEYS[i], 'e', now + tonumber(ARGV[i]))
              redis.call('PEXPIRE', KEYS[i], ARGV[i])
            end
            out[#out + 1] = redis.call('HINCRBY', KEYS[i], 'n', 1)
          end
          return out",
    )
});

/// Gives back one count of each of the first ARGV[2] keys (as RELEASE, ARGV[1] = now) and
/// deletes the others.
static RELEASE_AND_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local now = tonumber(ARGV[1])
          local r = tonumber(ARGV[2])
          for i = 1, #KEYS do
            if i <= r then
              local e = tonumber(redis.call('HGET', KEYS[i], 'e') or '0')
              local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
              if e > now and n > 1 then redis.call('HINCRBY', KEYS[i], 'n', -1)
              elseif e > now then redis.call('DEL', KEYS[i]) end
            else
              redis.call('DEL', KEYS[i])
            end
          end
          return 0",
    )
});

/// Takes KEYS[1] if it holds a live sealed value (ARGV[3] = now) and stores ARGV[1] under
/// KEYS[2] for ARGV[2] ms; otherwise reads KEYS[2]. Returns {taken or false, read or false}.
static TAKE_AND_MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
          if v and tonumber(string.sub(v, 1, 16)) > tonumber(ARGV[3]) then
            redis.call('DEL', KEYS[1])
            redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
            return {v, false}
          end
          return {false, redis.call('GET', KEYS[2])}",
    )
});

static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
          if e <= tonumber(ARGV[1]) then return 0 end
          return tonumber(redis.call('HGET', KEYS[1], 'n') or '0')",
    )
});

#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    /// What a worker's own connection is opened with.
    opener: Arc<(redis::Client, redis::aio::ConnectionManagerConfig)>,
    /// This worker's own connection (see [`RedisKv::for_worker`]); `None` inside when it could
    /// not be opened, and the shared one serves.
    local: Option<Arc<OnceCell<Option<ConnectionManager>>>>,
}

fn kv_err(e: redis::RedisError) -> StoreError {
    StoreError::Kv(e.to_string())
}

impl RedisKv {
    /// Connects to `url`; over TLS (`rediss://`) the server's certificate must chain to the
    /// system's roots or to `ca_pem`.
    pub async fn connect(
        url: &str,
        ca_pem: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = match ca_pem {
            Some(root_cert) => {
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(url, certs)
            }
            None => redis::Client::open(url),
        }
        .map_err(|e| e.to_string())?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            timeout,
            ConnectionManager::new_with_config(client.clone(), cfg.clone()),
        )
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
        .map_err(|e| e.to_string())?;
        let kv = Self {
            conn,
            opener: Arc::new((client, cfg)),
            local: None,
        };
        tokio::time::timeout(timeout, kv.ping())
            .await
            .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
            .map_err(|e| e.to_string())?;
        Ok(kv)
    }

    /// The same store with a connection of its own, opened on first use by the runtime that
    /// uses it: a server worker's commands then go out and come back on its own thread, instead
    /// of through the shared connection's driver on another thread (two more thread switches
    /// per command).
    pub fn for_worker(&self) -> Self {
        Self {
            local: Some(Arc::new(OnceCell::new())),
            ..self.clone()
        }
    }

    /// The same store on the shared connection.
    pub fn shared(&self) -> Self {
        Self {
            local: None,
            ..self.clone()
        }
    }

    async fn conn(&self) -> ConnectionManager {
        let Some(local) = &self.local else {
            return self.conn.clone();
        };
        let own = local
            .get_or_init(|| async {
                let (client, cfg) = self.opener.as_ref();
                let opened = ConnectionManager::new_with_config(client.clone(), cfg.clone()).await;
                if let Err(e) = &opened {
                    tracing::warn!(error = %e, "a worker's own Redis connection failed; sharing one");
                }
                opened.ok()
            })
            .await;
        own.clone().unwrap_or_else(|| self.conn.clone())
    }

    pub async fn put(&self, k: &str, v: Vec<u8>, ttl_ms: i64) -> Result<(), StoreError> {
        let mut c = self.conn().await;
        let ttl = u64::try_from(ttl_ms).unwrap_or(1);
        c.pset_ex::<_, _, ()>(k, v, ttl).await.map_err(kv_err)
    }

    pub async fn put_if_absent(
        &self,
        k: &str,
        v: Vec<u8>,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn().await;
        let stored: i64 = PUT_IF_ABSENT
            .key(k)
            .arg(v)
            .arg(ttl_ms)
            .arg(now_ms)
            .invoke_async(&mut c)
            .await
            .map_err(kv_err)?;
        Ok(stored == 1)
    }

    pub async fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await;
        c.get(k).await.map_err(kv_err)
    }

    pub async fn get_many(&self, ks: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut c = self.conn().await;
        let mut cmd = redis::cmd("MGET");
        for k in ks {
            cmd.arg(k);
        }
        cmd.query_async(&mut c).await.map_err(kv_err)
    }

    pub async fn take(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await;
        c.get_del(k).await.map_err(kv_err)
    }

    pub async fn incr(&self, k: &str, now_ms: i64, ttl_ms: i64) -> Result<i64, StoreError> {
        let mut c = self.conn().await;
        INCR.key(k)
            .arg(now_ms)
            .arg(ttl_ms)
            .invoke_async(&mut c)
            .await
            .map_err(kv_err)
    }

    pub async fn incr_unless(
        &self,
        guard: &str,
        counters: &[(String, i64)],
        now_ms: i64,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let mut c = self.conn().await;
        let mut inv = INCR_UNLESS.key(guard);
        inv.arg(now_ms);
        for (k, ttl) in counters {
            inv.key(k).arg(*ttl);
        }
        inv.invoke_async(&mut c).await.map_err(kv_err)
    }

    pub async fn release_and_delete(
        &self,
        release: &[String],
        delete: &[String],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await;
        let mut inv = RELEASE_AND_DELETE.prepare_invoke();
        inv.arg(now_ms).arg(release.len());
        for k in release.iter().chain(delete) {
            inv.key(k);
        }
        inv.invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(kv_err)
    }

    pub async fn put_many(&self, entries: Vec<(String, Vec<u8>, i64)>) -> Result<(), StoreError> {
        let mut c = self.conn().await;
        let mut pipe = redis::pipe();
        for (k, v, ttl) in entries {
            pipe.pset_ex(k, v, u64::try_from(ttl).unwrap_or(1)).ignore();
        }
        pipe.query_async::<()>(&mut c).await.map_err(kv_err)
    }

    pub async fn take_and_get(
        &self,
        take: &str,
        get: &str,
    ) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), StoreError> {
        let mut c = self.conn().await;
        redis::pipe()
            .get_del(take)
            .get(get)
            .query_async(&mut c)
            .await
            .map_err(kv_err)
    }

    pub async fn take_and_mark(
        &self,
        k: &str,
        mark_key: &str,
        mark: Vec<u8>,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), StoreError> {
        let mut c = self.conn().await;
        TAKE_AND_MARK
            .key(k)
            .key(mark_key)
            .arg(mark)
            .arg(ttl_ms)
            .arg(now_ms)
            .invoke_async(&mut c)
            .await
            .map_err(kv_err)
    }

    pub async fn release(&self, k: &str, now_ms: i64) -> Result<(), StoreError> {
        let mut c = self.conn().await;
        RELEASE
            .key(k)
            .arg(now_ms)
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(kv_err)
    }

    pub async fn count(&self, k: &str, now_ms: i64) -> Result<i64, StoreError> {
        let mut c = self.conn().await;
        COUNT
            .key(k)
            .arg(now_ms)
            .invoke_async(&mut c)
            .await
            .map_err(kv_err)
    }

    pub async fn delete(&self, k: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await;
        c.del::<_, ()>(k).await.map_err(kv_err)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(kv_err)
    }
}
