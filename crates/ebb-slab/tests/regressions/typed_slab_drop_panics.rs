//! Dropping a `TypedSlab` drops every value it still holds, even when one value's `Drop`
//! panics (as `Vec` does), rather than stopping at the panic.

use ebb_slab::{Error, TypedSlab};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

static DROPS: AtomicUsize = AtomicUsize::new(0);

struct Bomb(bool);

impl Drop for Bomb {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
        if self.0 {
            panic!("a value's Drop panicked");
        }
    }
}

#[test]
fn one_panicking_drop_does_not_leak_the_rest() {
    let slab = TypedSlab::new();
    let handles: Vec<_> = (0..100)
        .map(|i| slab.insert(Bomb(i == 5)).unwrap())
        .collect();
    drop(handles);
    let r = catch_unwind(AssertUnwindSafe(|| drop(slab)));
    assert!(r.is_err(), "the panic reaches the caller");
    assert_eq!(DROPS.load(Ordering::SeqCst), 100);
}

/// A `T` too large for a slab: `try_new` says so, `new` panics with the reason.
#[test]
fn too_large_a_type_is_an_error_from_try_new() {
    type Huge = [u8; 17 << 20];
    assert!(matches!(
        TypedSlab::<Huge>::try_new(),
        Err(Error::InvalidConfig(_))
    ));
    let r = catch_unwind(|| drop(TypedSlab::<Huge>::new()));
    let msg = r.unwrap_err();
    let msg = msg
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(msg.contains("16 MiB"), "{msg}");
    #[repr(align(128))]
    struct Aligned;
    assert!(TypedSlab::<Aligned>::try_new().is_err());
    assert!(TypedSlab::<[u8; 1 << 20]>::try_new().is_ok());
}
