//! The `cronops` binary: every process kind of CronOps behind one executable.

/// Every run and every request allocates from several runtime threads at once. glibc's
/// malloc serialised them on its arena locks (futex wake-ups and `_int_malloc` led the
/// profile of a burst of sends); mimalloc keeps per-thread heaps. See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages: zeroing fresh 2 MiB pages took 40 % of the schedulers'
    // CPU in a burst and doubled their RSS. mimalloc is built not to ask for them (its
    // `no_thp` feature), and this flag keeps the process off them where the host's THP
    // mode is `always`. Failing to set it only costs that.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    api::cli::main()
}
