//! Bench runner with jemalloc (tikv-jemallocator) as the global allocator.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(ebb_benches::runner_main("jemalloc"));
}
