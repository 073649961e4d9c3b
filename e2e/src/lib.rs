//! The end-to-end tests live in `tests/`, one file per area; they drive the built
//! `cronops` binary through the test kit (`kit/`, crate `testkit`). The benchmark
//! harness is `bench/`.
