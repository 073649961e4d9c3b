//! `embed_migrations!` reads `migrations/` at compile time; a new migration folder must
//! rebuild this crate, which cargo only knows if told.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
