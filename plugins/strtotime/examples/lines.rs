use std::io::BufRead;
fn main() {
    let now: i64 = std::env::args().nth(1).unwrap().parse().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        match strtotime::strtotime(&line, now, strtotime::ParsedZone::Offset(0)) {
            Ok(v) => println!("{v}"),
            Err(_) => println!("false"),
        }
    }
}
