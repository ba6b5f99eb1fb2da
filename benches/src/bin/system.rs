//! Bench runner with the platform allocator (`std::alloc::System`) as the global allocator.

fn main() {
    std::process::exit(ebb_benches::runner_main("system"));
}
