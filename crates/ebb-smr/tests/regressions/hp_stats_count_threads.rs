//! `hp::Domain::stats().threads` counts handles, not the extra hazard records a thread
//! takes when it holds more than two guards at once.

use ebb_smr::{Smr, hp};

#[test]
fn hp_threads_counts_handles_not_records() {
    let d = hp::Domain::new();
    let h = d.register();
    let guards: Vec<_> = (0..100).map(|_| h.pin()).collect();
    assert_eq!(Smr::stats(&d).threads, 1);
    let h2 = d.register();
    assert_eq!(d.stats().threads, 2);
    drop(guards);
    drop(h2);
    drop(h);
    // The peak stays: `threads` is the most handles registered at once.
    assert_eq!(d.stats().threads, 2);
    let _h3 = d.register();
    assert_eq!(d.stats().threads, 2);
}
