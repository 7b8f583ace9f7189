//! A valid component of the wrong world (`wasi:cli/command`): uploads must refuse it and
//! say which world they found.

fn main() {
    println!("I am a command, not a wasmhook plugin");
}
