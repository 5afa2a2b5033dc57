//! hookinit's entry point.
//!
//! `#![no_main]`: the Rust runtime's own start-up sets SIGPIPE to ignored
//! before `main`, after which hookinit could no longer see (nor hand on to
//! the app) the SIGPIPE disposition it was started with. With a C `main`
//! (made by `os::args`'s `c_main!`), nothing touches the signal state before
//! `hookinit::run` records it.
#![no_main]

hookinit::c_main!(hookinit::run);
