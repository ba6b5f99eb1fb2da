//! `validate` bounds every table the allocator sizes from its configuration, so an
//! impossible configuration is an error, not an abort in `with_config`.

use ebb_slab::{Error, MAX_EPOCHS, SlabAlloc, SlabConfig};

#[test]
fn huge_epoch_counts_are_refused() {
    for epochs in [1u32 << 31, 1 << 20, MAX_EPOCHS * 2] {
        let cfg = SlabConfig {
            epochs,
            ..SlabConfig::default()
        };
        assert!(
            matches!(cfg.validate(), Err(Error::InvalidConfig(_))),
            "{epochs}"
        );
        assert!(matches!(
            SlabAlloc::with_config(cfg),
            Err(Error::InvalidConfig(_))
        ));
    }
    // The largest ring the bound allows for one class is usable.
    let a = SlabAlloc::with_config(SlabConfig {
        epochs: MAX_EPOCHS,
        size_classes: vec![64],
        ..SlabConfig::default()
    })
    .unwrap();
    assert!(a.alloc(64).is_ok());
}
