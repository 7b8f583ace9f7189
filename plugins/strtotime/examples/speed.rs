fn main() {
    for input in [
        "next monday 9am",
        "2024-01-15T10:30:00Z",
        "Mon, 15 Jan 2024 10:30:00 +0000",
        "3 days ago",
        "12/25/2023 3:45pm",
        "last day of next month",
    ] {
        let t = std::time::Instant::now();
        for _ in 0..20000 {
            std::hint::black_box(strtotime::strtotime(
                std::hint::black_box(input),
                1_700_000_000,
                strtotime::ParsedZone::Offset(0),
            ))
            .ok();
        }
        println!(
            "{input:40} {:.2} µs",
            t.elapsed().as_secs_f64() * 1e6 / 20000.0
        );
    }
}
