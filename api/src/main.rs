//! The `cronops` binary: every process kind of CronOps behind one executable.

/// Every run and every request allocates from several runtime threads at once. glibc's
/// malloc serialised them on its arena locks (futex wake-ups and `_int_malloc` led the
/// profile of a burst of sends); mimalloc keeps per-thread heaps. See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    api::startup::disable_huge_pages();
    api::startup::raise_open_files_limit();
    api::cli::main()
}
