//! The print worker binary. Its loops arrive with the worker issue; for now it says so.
fn main() {
    eprintln!(
        "the print worker is not built yet (see the worker issue); printcore {} is the library it will drive",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
