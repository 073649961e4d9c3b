//! The `cronops` binary: every process kind of CronOps behind one executable.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
