//! Soak: many clients, mixed methods and sizes; nothing lost, misrouted or left behind.

use super::*;

fn soak_size() -> (usize, u64) {
    if std::env::var_os("MIFIFO_SOAK").is_some_and(|v| v == "1") {
        (64, 1000)
    } else {
        (64, 50)
    }
}

#[test]
fn soak_mixed_load_loses_nothing_and_leaves_nothing() {
    let env = TestEnv::new();
    let server = serve(&env, &[]);
    let c = client(&env, LOST);
    // Warm up (thread pools, statistics, allocator arenas) before the first RSS sample.
    let warm = run_fixed(&c, 64, 5);
    assert_eq!(warm.failures(), 0, "{warm:?}");
    let before = rss(server.pid());

    let (clients, per_client) = soak_size();
    let seen = run_fixed(&c, clients, per_client);
    let after = rss(server.pid());

    assert_eq!(seen.requests, clients as u64 * per_client);
    assert_eq!(seen.misrouted, 0, "{seen:?}");
    assert_eq!(seen.timeouts, 0, "lost requests or replies: {seen:?}");
    assert_eq!(seen.failures(), 0, "{seen:?}");
    assert_eq!(seen.ok, seen.requests);
    assert_eq!(
        leftovers(&env),
        Vec::<String>::new(),
        "reply FIFOs left behind"
    );
    // Flat, with a generous bound: still catches a leak of ~5 KiB per request
    // (~256 bytes per request with MIFIFO_SOAK=1).
    assert!(
        after <= before + 16 * 1024,
        "server RSS grew from {before} KiB to {after} KiB over {} requests",
        seen.requests
    );
    eprintln!(
        "soak: {} requests, server RSS {before} KiB -> {after} KiB",
        seen.requests
    );
}
