//! Epoch-partitioned slab allocator (being built).
