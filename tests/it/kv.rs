//! One KV suite run against the in-process store and, when configured, Redis (plain and over
//! TLS, `rediss://`): same semantics.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tessera::clock::{Clock, FakeClock, SystemClock};
use tessera::store::kv::{Kv, Taken, Writes};

use crate::support::{backends, unique_name};

async fn stores() -> Vec<(Kv, Arc<FakeClock>)> {
    let mut out = Vec::new();
    let plain = [
        ("memory://".to_string(), None),
        (backends::redis_url(), None),
    ];
    let tls = backends::rediss().map(|(url, ca)| (url, Some(ca)));
    for (url, ca) in plain.into_iter().chain(tls) {
        if url == "memory://" && !out.is_empty() {
            continue;
        }
        let clock = Arc::new(FakeClock::new(SystemClock.now()));
        let kv = Kv::connect_trusting(
            &url,
            ca,
            &format!("{}:", unique_name("kv")),
            clock.clone(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        out.push((kv, clock));
    }
    if out.len() == 1 {
        println!("kv suite: TEST_REDIS_URL not set, running on the memory store only");
    }
    out
}

const MIN: Duration = Duration::from_secs(60);

/// `rediss://` verifies the server: without its CA the connection is refused.
#[actix_web::test]
async fn rediss_needs_a_trusted_certificate() {
    let Some((url, _)) = backends::rediss() else {
        return println!("rediss: TEST_REDISS_URL not set, skipped");
    };
    let clock = Arc::new(FakeClock::new(SystemClock.now()));
    let e = Kv::connect(&url, "x:", clock, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

#[actix_web::test]
async fn put_get_overwrite_delete() {
    for (kv, _) in stores().await {
        assert_eq!(kv.get("a").await.unwrap(), None);
        kv.put("a", b"1", MIN).await.unwrap();
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        kv.put("a", b"2", MIN).await.unwrap();
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some(&b"2"[..]));
        kv.delete("a").await.unwrap();
        assert_eq!(kv.get("a").await.unwrap(), None, "{kv:?}");
    }
}

#[actix_web::test]
async fn values_expire_by_the_injected_clock() {
    for (kv, clock) in stores().await {
        kv.put("code", b"x", Duration::from_secs(60)).await.unwrap();
        clock.advance(TimeDelta::seconds(59));
        assert!(kv.get("code").await.unwrap().is_some(), "{kv:?}");
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(kv.get("code").await.unwrap(), None, "{kv:?}");
        assert_eq!(kv.take("code").await.unwrap(), None, "{kv:?}");
    }
}

#[actix_web::test]
async fn take_is_single_use_even_when_concurrent() {
    for (kv, _) in stores().await {
        kv.put("once", b"v", MIN).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let kv = kv.clone();
                actix_web::rt::spawn(async move { kv.take("once").await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            if t.await.unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{kv:?}");
        assert_eq!(kv.get("once").await.unwrap(), None);
    }
}

/// A single-use value and the trace of its use, in one atomic step: of concurrent takers one
/// gets the value, the others the mark; an expired value is not taken and leaves no mark.
#[actix_web::test]
async fn take_and_mark_is_single_use_and_leaves_its_mark() {
    for (kv, clock) in stores().await {
        // Each taker works on its own handle for one server worker (its own connection).
        kv.put("code", b"grant", MIN).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let kv = kv.for_worker();
                actix_web::rt::spawn(async move {
                    let mark = format!("taker {i}");
                    kv.take_and_mark("code", "used", mark.as_bytes(), MIN)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut taken = Vec::new();
        let mut gone = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Taken::Value(v) => taken.push(v),
                Taken::Gone(m) => gone.push(m),
            }
        }
        assert_eq!(taken, [b"grant".to_vec()], "{kv:?}");
        let mark = kv.get("used").await.unwrap().expect("the winner's mark");
        assert!(mark.starts_with(b"taker "), "{kv:?}");
        assert!(gone.iter().all(|m| m.as_ref() == Some(&mark)), "{kv:?}");
        assert_eq!(kv.get("code").await.unwrap(), None);

        kv.put("late", b"grant", Duration::from_secs(10))
            .await
            .unwrap();
        clock.advance(TimeDelta::seconds(10));
        let late = kv.take_and_mark("late", "late-used", b"m", MIN).await;
        assert_eq!(late.unwrap(), Taken::Gone(None), "{kv:?}");
        assert_eq!(kv.get("late-used").await.unwrap(), None, "{kv:?}");
    }
}

/// Writes gathered from several places go out together; a take and a read go together.
#[actix_web::test]
async fn gathered_writes_and_take_with_a_read() {
    for (kv, clock) in stores().await {
        let mut w = Writes::default();
        w.put("s1".into(), b"one".to_vec(), Duration::from_secs(10));
        w.put("s2".into(), b"two".to_vec(), MIN);
        kv.for_worker().write(w).await.unwrap();
        kv.write(Writes::default()).await.unwrap();
        assert_eq!(
            kv.take_and_get("s1", "s2").await.unwrap(),
            (Some(b"one".to_vec()), Some(b"two".to_vec())),
            "{kv:?}"
        );
        assert_eq!(
            kv.take_and_get("s1", "nothing").await.unwrap(),
            (None, None)
        );
        clock.advance(TimeDelta::seconds(60));
        assert_eq!(kv.take_and_get("s2", "s2").await.unwrap(), (None, None));
    }
}

#[actix_web::test]
async fn put_if_absent_respects_live_and_expired_values() {
    for (kv, clock) in stores().await {
        assert!(
            kv.put_if_absent("step", b"1", Duration::from_secs(30))
                .await
                .unwrap()
        );
        assert!(
            !kv.put_if_absent("step", b"2", Duration::from_secs(30))
                .await
                .unwrap(),
            "{kv:?}"
        );
        assert_eq!(kv.get("step").await.unwrap().as_deref(), Some(&b"1"[..]));
        clock.advance(TimeDelta::seconds(30));
        assert!(
            kv.put_if_absent("step", b"3", Duration::from_secs(30))
                .await
                .unwrap(),
            "{kv:?}"
        );
    }
}

#[actix_web::test]
async fn counters_count_within_a_window() {
    for (kv, clock) in stores().await {
        assert_eq!(kv.count("fail").await.unwrap(), 0);
        assert_eq!(kv.incr("fail", Duration::from_secs(10)).await.unwrap(), 1);
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(kv.incr("fail", Duration::from_secs(10)).await.unwrap(), 2);
        assert_eq!(kv.count("fail").await.unwrap(), 2);
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(
            kv.count("fail").await.unwrap(),
            0,
            "the window does not slide: {kv:?}"
        );
        assert_eq!(
            kv.incr("fail", Duration::from_secs(10)).await.unwrap(),
            1,
            "{kv:?}"
        );
        kv.delete("fail").await.unwrap();
        assert_eq!(kv.count("fail").await.unwrap(), 0);
    }
}

/// A count given back to zero removes the counter: a success leaves nothing behind, and the
/// next count starts a window of its own (later than the old one: never more lenient).
#[actix_web::test]
async fn a_counter_given_back_to_zero_is_gone() {
    let ten = Duration::from_secs(10);
    for (kv, clock) in stores().await {
        assert_eq!(kv.incr("ip", ten).await.unwrap(), 1);
        assert_eq!(kv.incr("ip", ten).await.unwrap(), 2);
        kv.release("ip").await.unwrap();
        assert_eq!(kv.count("ip").await.unwrap(), 1, "{kv:?}");
        kv.release("ip").await.unwrap();
        assert_eq!(kv.count("ip").await.unwrap(), 0);
        if let Some(usage) = kv.memory_usage() {
            assert_eq!(usage.entries, 0, "nothing left: {usage:?}");
        }
        clock.advance(TimeDelta::seconds(8));
        assert_eq!(
            kv.incr_unless("lock", &[("ip", ten)]).await.unwrap(),
            Some(vec![1])
        );
        kv.release_and_delete(&["ip"], &[]).await.unwrap();
        assert_eq!(kv.incr("ip", ten).await.unwrap(), 1);
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(kv.count("ip").await.unwrap(), 1, "a new window: {kv:?}");
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(kv.count("ip").await.unwrap(), 0);
    }
}

/// The combined operations a sign-in uses (one round trip each) mean what their parts mean.
#[actix_web::test]
async fn combined_counts_releases_and_puts() {
    let ten = Duration::from_secs(10);
    for (kv, clock) in stores().await {
        let counted = kv.incr_unless("lock", &[("a", ten), ("b", MIN)]).await;
        assert_eq!(counted.unwrap(), Some(vec![1, 1]), "{kv:?}");
        assert_eq!(
            kv.incr_unless("lock", &[("a", ten)]).await.unwrap(),
            Some(vec![2])
        );
        kv.put("lock", b"1", ten).await.unwrap();
        assert_eq!(
            kv.incr_unless("lock", &[("a", ten), ("b", MIN)])
                .await
                .unwrap(),
            None,
            "a live guard counts nothing: {kv:?}"
        );
        assert_eq!(
            (kv.count("a").await.unwrap(), kv.count("b").await.unwrap()),
            (2, 1)
        );
        kv.release_and_delete(&["a", "b"], &["lock"]).await.unwrap();
        assert_eq!(
            (kv.count("a").await.unwrap(), kv.count("b").await.unwrap()),
            (1, 0)
        );
        kv.release_and_delete(&["b"], &[]).await.unwrap();
        assert_eq!(kv.count("b").await.unwrap(), 0, "never below zero: {kv:?}");
        assert_eq!(kv.get("lock").await.unwrap(), None);
        clock.advance(TimeDelta::seconds(10));
        assert_eq!(
            kv.incr_unless("lock", &[("a", ten)]).await.unwrap(),
            Some(vec![1]),
            "windows start again: {kv:?}"
        );
        let mut w = Writes::default();
        w.put("x".into(), b"1".to_vec(), ten);
        w.put_evictable("y".into(), b"2".to_vec(), MIN);
        kv.write(w).await.unwrap();
        let both = kv.get_many(&["x", "y"]).await.unwrap();
        assert_eq!(both, [Some(b"1".to_vec()), Some(b"2".to_vec())]);
        clock.advance(TimeDelta::seconds(10));
        assert_eq!(
            kv.get_many(&["x", "y"]).await.unwrap(),
            [None, Some(b"2".to_vec())]
        );
    }
}

#[actix_web::test]
async fn prefixes_isolate() {
    let url = backends::redis_url();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let a = Kv::connect(
        &url,
        &format!("{}:", unique_name("a")),
        clock.clone(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let b = Kv::connect(
        &url,
        &format!("{}:", unique_name("b")),
        clock,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    a.put("k", b"a", MIN).await.unwrap();
    assert_eq!(b.get("k").await.unwrap(), None);
    a.ping().await.unwrap();
}
