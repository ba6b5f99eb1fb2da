//! The Lisp on regions, end to end: a program's output, and every region freed.

#![cfg(feature = "region")]

use ebb::lisp::{DEMO, DEMO_OUTPUT, Interp, LispError, RcHeap, RegionHeap};
use ebb::region::RegionCounter;

#[test]
fn demo_runs_on_regions_and_frees_every_region() {
    let counter = RegionCounter::new();
    let mut it = Interp::new(RegionHeap::new(counter.clone()));
    let last = it.run(DEMO).unwrap();
    assert_eq!(it.output, DEMO_OUTPUT);
    assert_eq!(it.show(&last).unwrap(), "12");
    // fib 15 alone makes thousands of calls, each with its own region.
    assert!(counter.created() > 2000, "{} regions", counter.created());
    assert_eq!(counter.live(), 1, "only the top-level region is alive");
    drop(it);
    assert_eq!(counter.live(), 0, "every region freed");
}

#[test]
fn rc_evaluator_agrees() {
    let mut it = Interp::new(RcHeap);
    it.run(DEMO).unwrap();
    assert_eq!(it.output, DEMO_OUTPUT);
}

#[test]
fn results_pointing_into_outer_frames_survive() {
    // `keep` returns its argument (from the caller's caller) inside a new pair.
    let counter = RegionCounter::new();
    let mut it = Interp::new(RegionHeap::new(counter.clone()));
    let src = "(define (wrap x) (cons 0 x)) (define (twice x) (wrap (wrap x))) \
               (display (twice (list 1 2)))";
    it.run(src).unwrap();
    assert_eq!(it.output, "(0 0 1 2)\n");
    assert_eq!(counter.live(), 1);
}

#[test]
fn errors_are_reported_and_regions_still_freed() {
    let counter = RegionCounter::new();
    let mut it = Interp::new(RegionHeap::new(counter.clone()));
    assert!(matches!(it.run("(car 1)"), Err(LispError::Eval(_))));
    assert!(matches!(
        it.run("(define (f x) (car x)) (f 3)"),
        Err(LispError::Eval(_))
    ));
    assert!(matches!(it.run("(f 1 2)"), Err(LispError::Eval(_))));
    assert!(matches!(it.run("(nope)"), Err(LispError::Eval(_))));
    assert!(matches!(it.run("(+ 1"), Err(LispError::Parse(_))));
    assert!(matches!(it.run("\"open"), Err(LispError::Parse(_))));
    assert!(matches!(
        it.run("(define (loop n) (loop n)) (loop 1)"),
        Err(LispError::Eval(_))
    ));
    assert_eq!(counter.live(), 1);
}
