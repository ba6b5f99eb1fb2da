//! Bench runner with ebb-slab's page heap (`EbbAlloc`) as the global allocator.

#[global_allocator]
static GLOBAL: ebb_slab::EbbAlloc = ebb_slab::EbbAlloc::new();

fn main() {
    std::process::exit(ebb_benches::runner_main("ebb"));
}
