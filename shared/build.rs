//! `embed_migrations!` does not notice a new file in `migrations/` by itself.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
