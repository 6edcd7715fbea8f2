//! Command-line helpers shared by the numbered examples (not an example itself).
#![allow(dead_code)]

pub mod fashion;

use std::time::Instant;

/// The flags every example understands.
pub struct Args {
    /// Print one JSON object of the final figures at the end.
    pub json: bool,
    /// `--data DIR`, where to look for the data set first.
    pub data: Option<std::path::PathBuf>,
    /// Every other argument, in order.
    pub rest: Vec<String>,
    start: Instant,
}

impl Args {
    /// Parses `std::env::args()`.
    pub fn parse() -> Args {
        let mut it = std::env::args().skip(1);
        let (mut json, mut data, mut rest) = (false, None, Vec::new());
        while let Some(a) = it.next() {
            match a.as_str() {
                "--json" => json = true,
                "--data" => data = Some(it.next().unwrap_or_else(|| fail("--data needs a directory")).into()),
                _ => rest.push(a),
            }
        }
        Args { json, data, rest, start: Instant::now() }
    }

    /// The value after flag `name` (e.g. `--epochs 5`), parsed.
    pub fn value<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        let i = self.rest.iter().position(|a| a == name)?;
        let v = self.rest.get(i + 1).unwrap_or_else(|| fail(&format!("{name} needs a value")));
        Some(v.parse().unwrap_or_else(|_| fail(&format!("{name}: cannot parse {v:?}"))))
    }

    /// Whether flag `name` is present.
    pub fn flag(&self, name: &str) -> bool {
        self.rest.iter().any(|a| a == name)
    }

    /// Seconds since the program started.
    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// Prints an error and exits with status 2.
pub fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// A JSON object built by hand (figures only: numbers, strings, booleans).
#[derive(Default)]
pub struct Json(Vec<(String, String)>);

impl Json {
    /// Adds a number (non-finite numbers become `null`).
    pub fn num(mut self, k: &str, v: f64) -> Self {
        self.0.push((k.into(), if v.is_finite() { format!("{v}") } else { "null".into() }));
        self
    }
    /// Adds a string.
    pub fn str(mut self, k: &str, v: &str) -> Self {
        self.0.push((k.into(), format!("{v:?}")));
        self
    }
    /// Adds a boolean.
    pub fn bool(mut self, k: &str, v: bool) -> Self {
        self.0.push((k.into(), v.to_string()));
        self
    }
    /// Adds a list of numbers.
    pub fn list(mut self, k: &str, v: &[f32]) -> Self {
        let items: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
        self.0.push((k.into(), format!("[{}]", items.join(","))));
        self
    }
    /// Renders `{"k":v,...}`.
    pub fn render(&self) -> String {
        let items: Vec<String> = self.0.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        format!("{{{}}}", items.join(","))
    }
}
