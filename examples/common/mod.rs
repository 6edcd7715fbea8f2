//! Command-line helpers shared by the numbered examples (not an example itself).
//!
//! Every example names the options it takes; anything else on its command
//! line, an option given twice, or a value outside the option's stated range
//! stops it with one line on stderr (`error: …`) and exit status 2, before
//! any work is done.
#![allow(dead_code)]

pub mod fashion;
pub mod layer_bench;

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

/// The most epochs (or iterations) an example accepts: far more than any
/// run needs, and small enough that step counts cannot overflow.
pub const MAX_EPOCHS: usize = 10_000;

/// An example's command line, checked against the options it takes.
pub struct Args {
    /// `--json`: print one JSON object of the final figures at the end.
    pub json: bool,
    /// `--data DIR`, where to look for the data set first.
    pub data: Option<PathBuf>,
    /// Every other argument, in order ([`Args::parse`] only).
    pub rest: Vec<String>,
    /// The options given, with their values, in order.
    values: Vec<(&'static str, String)>,
    /// The switches given.
    switches: Vec<&'static str>,
    start: Instant,
}

impl Args {
    /// Parses `std::env::args()` leniently: `--json` and `--data DIR`, and
    /// every other argument kept in [`Args::rest`] (example 08 takes its
    /// image paths from there). The other examples use
    /// [`Args::parse_options`].
    pub fn parse() -> Args {
        let mut it = std::env::args().skip(1);
        let mut args = Args::empty();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--json" => args.json = true,
                "--data" => args.data = Some(it.next().unwrap_or_else(|| fail("--data needs a directory")).into()),
                _ => args.rest.push(a),
            }
        }
        args
    }

    /// No arguments yet.
    fn empty() -> Args {
        Args {
            json: false,
            data: None,
            rest: Vec::new(),
            values: Vec::new(),
            switches: Vec::new(),
            start: Instant::now(),
        }
    }

    /// Parses `std::env::args()`. `options` take one value each (`--epochs 5`),
    /// `switches` none (`--json`); `--data` and `--json`, when listed, fill
    /// [`Args::data`] and [`Args::json`].
    ///
    /// Fails on an argument that is neither, on an option without a value
    /// (or followed by another option), and on an option given twice.
    pub fn parse_options(options: &[&'static str], switches: &[&'static str]) -> Args {
        let mut it = std::env::args();
        let program = it.next().map(PathBuf::from).and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()));
        let program = program.unwrap_or_else(|| "this example".into());
        let mut args = Args::empty();
        while let Some(a) = it.next() {
            let seen = args.values.iter().any(|(n, _)| *n == a) || args.switches.iter().any(|n| *n == a);
            if seen {
                fail(&format!("{a} is given twice"));
            }
            if let Some(&name) = options.iter().find(|&&o| o == a) {
                match it.next() {
                    Some(v) if !v.starts_with("--") => args.values.push((name, v)),
                    Some(v) => fail(&format!("{name} needs a value, found the option {v}")),
                    None => fail(&format!("{name} needs a value")),
                }
            } else if let Some(&name) = switches.iter().find(|&&s| s == a) {
                args.switches.push(name);
            } else {
                let takes: Vec<&str> = options.iter().chain(switches).copied().collect();
                let takes = if takes.is_empty() { "no options".to_string() } else { takes.join(", ") };
                fail(&format!("unknown argument {a:?}: {program} takes {takes}"));
            }
        }
        args.json = args.flag("--json");
        args.data = args.text("--data").map(PathBuf::from);
        args
    }

    /// The value given after option `name`, as written.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The value after option `name` as a path.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.text(name).map(PathBuf::from)
    }

    /// The value after option `name`, a whole number in `range`; `default`
    /// when the option is absent.
    pub fn number<T>(&self, name: &str, default: T, range: RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + Display,
    {
        let Some(v) = self.text(name) else { return default };
        match v.parse::<T>() {
            Ok(n) if range.contains(&n) => n,
            _ => fail(&format!("{name} {v}: must be a whole number from {} to {}", range.start(), range.end())),
        }
    }

    /// The value after option `name`, a finite number above 0 (a learning
    /// rate); `default` when the option is absent.
    pub fn positive(&self, name: &str, default: f32) -> f32 {
        let Some(v) = self.text(name) else { return default };
        match v.parse::<f32>() {
            Ok(x) if x.is_finite() && x > 0.0 => x,
            _ => fail(&format!("{name} {v}: must be a finite number above 0")),
        }
    }

    /// Whether switch `name` is present ([`Args::parse_options`]).
    pub fn flag(&self, name: &str) -> bool {
        self.switches.contains(&name)
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

/// Creates directory `dir` (and its parents) or fails naming the option
/// `name` that gave it; examples call it before training, so that a bad
/// `--out` costs no training time.
pub fn create_out_dir(name: &str, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("{name} {}: cannot create it: {e}", dir.display())));
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
