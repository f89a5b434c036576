//! The in-process store's memory budget: past it the oldest SSO sessions and codes go (and
//! with them nothing a logout or a limit depends on), and the metrics show what it holds and
//! dropped.

use std::time::Duration;

use tessera::accounts::codes::{self, Purpose};
use tessera::sessions::{self, Session};

use crate::support::TestApp;

/// Room for a few dozen sessions (each is two entries of ~300 bytes).
const BUDGET: usize = 24 * 1024;

#[actix_web::test]
async fn past_its_budget_the_oldest_sessions_go_and_logout_and_limits_still_hold() {
    let app = TestApp::builder()
        .config(|c| c.redis_url = "memory://".into())
        .build()
        .await;
    let mut st = app.st.clone();
    st.kv = st.kv.clone().with_memory_limit(BUDGET);
    let pool = &app.pool.id;
    let counter = "limits:test";
    assert_eq!(
        st.kv.incr(counter, Duration::from_secs(600)).await.unwrap(),
        1
    );
    let (confirm, day) = (Purpose::Confirm, Duration::from_secs(86_400));
    let code = codes::issue(&st, pool, confirm, "early", day)
        .await
        .unwrap();
    let mut started = Vec::new();
    for i in 0..200 {
        let s = Session::new(&format!("user-{i}"), 0, vec!["pwd".into()]);
        let (cookie, s) = sessions::start(&st, pool, &s).await.unwrap();
        // Half the sessions gave tokens to a client: their `sid` entry is written again.
        if i % 2 == 0 {
            sessions::joined(&st, pool, &s.sid, "rp").await.unwrap();
        }
        started.push((cookie, s.sid));
        let usage = st.kv.memory_usage().unwrap();
        assert!(usage.bytes <= BUDGET, "{usage:?}");
    }
    let usage = st.kv.memory_usage().unwrap();
    assert!(usage.evicted > 200, "the budget was reached: {usage:?}");
    // The newest sessions are there, the oldest are gone, oldest first.
    let mut alive = Vec::new();
    for (cookie, _) in &started {
        alive.push(
            sessions::find(&st, pool, Some(cookie))
                .await
                .unwrap()
                .is_some(),
        );
    }
    let first_alive = alive.iter().position(|a| *a).unwrap();
    assert!(first_alive > 100, "{alive:?}");
    assert!(alive[first_alive..].iter().all(|a| *a), "{alive:?}");
    // Every session still there can be ended by its `sid` (a logout with id_token_hint from
    // another browser): its `sid` entry was never dropped before it.
    for ((cookie, sid), alive) in started.iter().zip(&alive) {
        let ended = sessions::end_sid(&st, pool, sid).await.unwrap();
        assert_eq!(ended.is_some(), *alive, "sid {sid}");
        assert!(
            sessions::find(&st, pool, Some(cookie))
                .await
                .unwrap()
                .is_none()
        );
    }
    // Counters are never dropped early: the limit's count is intact. A code written before
    // the sessions went with them (its user asks for another).
    assert_eq!(st.kv.count(counter).await.unwrap(), 1);
    let gone = codes::verify(&st, pool, confirm, "early", &code, day).await;
    assert!(!gone.unwrap());
    // The metrics read the same store.
    let text = tessera::http::metrics::exposition(&st);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => -1.0,
            })
    };
    assert_eq!(
        value("tessera_memory_store_evictions_total"),
        Some(usage.evicted as f64)
    );
    assert!(value("tessera_memory_store_bytes").is_some_and(|b| b > 0.0 && b <= BUDGET as f64));
    assert!(value("tessera_memory_store_entries").is_some_and(|n| n >= 1.0));
}
