//! `build-task`: see the crate docs in `lib.rs` and the README.

fn main() {
    let code = build_task::run::main(std::env::args_os().collect());
    std::process::exit(code);
}
