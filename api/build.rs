//! The dashboard (`web/`) is embedded in the binary from `web/dist/`, which `make web`
//! builds with Node.js. Without it the binary would serve no dashboard, so the build stops
//! and says how to make it.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=../web/dist");
    if !Path::new("../web/dist/index.html").exists() {
        panic!(
            "web/dist/ is missing: build the dashboard first with `make web` (Node.js and npm; \
             `make build`, `make dev` and `make test` do it)"
        );
    }
}
