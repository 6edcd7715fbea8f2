//! Saving and loading networks as safetensors: round trips (bit-exact),
//! files written by the reference Python writer, and a typed error for
//! every kind of bad file, through both the std loader (`io::load_bytes`,
//! `io::load_file`) and the `no_std` one (`io::load_from_bytes`).

mod common;
use common::{fashion10, seed1, tiny};
use constnet::io::{self, ErrorKind, FormatError, LoadError, SafeTensorsView};
use constnet::{Flat, Init, Network, Tensor};
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn trained_like<P: Network>(seed: u64) -> Box<P> {
    let mut net = P::boxed_zeroed();
    net.init(Init::He, &mut SmallRng::seed_from_u64(seed));
    // Non-zero biases too, so they are checked.
    net.visit_mut(&mut |_, name, _, d| {
        if name == "bias" {
            d.iter_mut().enumerate().for_each(|(i, v)| *v = 0.01 * i as f32 - 0.02);
        }
    });
    net
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn input(seed: usize) -> Tensor<1, 28, 28> {
    Tensor::from_fn(|_, y, x| ((y * 28 + x + seed) % 17) as f32 / 16.0)
}

#[test]
fn round_trip_is_bit_exact_through_bytes_files_and_the_no_std_reader() {
    let net = trained_like::<fashion10::Params>(3);
    let meta = io::Metadata::from([("input_mean".into(), "0.286".into()), ("k\"ey".into(), "v\u{e9}".into())]);
    let bytes = io::to_bytes(&*net, &meta).unwrap();

    let mut a = fashion10::Params::boxed_zeroed();
    assert_eq!(io::load_bytes(&mut *a, &bytes).unwrap(), meta);
    let mut b = fashion10::Params::boxed_zeroed();
    io::load_from_bytes(&mut *b, &bytes).unwrap();
    let dir = std::env::temp_dir().join(format!("constnet-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    io::save_file_with_metadata(&*net, &meta, &path).unwrap();
    let mut c = fashion10::Params::boxed_zeroed();
    assert_eq!(io::load_file(&mut *c, &path).unwrap(), meta);
    std::fs::remove_dir_all(&dir).unwrap();

    for copy in [&a, &b, &c] {
        assert_eq!(bits(copy.as_flat()), bits(net.as_flat()));
        let (mut w1, mut w2) = (fashion10::Workspace::<1>::boxed_zeroed(), fashion10::Workspace::<1>::boxed_zeroed());
        for s in 0..3 {
            let (p, q) = (net.predict(&input(s), &mut w1), copy.predict(&input(s), &mut w2));
            assert_eq!(bits(p.as_flat()), bits(q.as_flat()), "outputs differ on input {s}");
        }
    }

    // The no_std reader sees what the reference writer wrote.
    let st = SafeTensorsView::parse(&bytes).unwrap();
    st.validate_all().unwrap();
    assert!(st.metadata("k\"ey").unwrap().unwrap().eq_str("v\u{e9}"));
    let mut names: Vec<String> = st.tensors().map(|t| format!("{} {} {}", t.name, t.dtype, t.dims())).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conv1.bias F32 [8]",
            "conv1.weight F32 [8, 1, 3, 3]",
            "conv2.bias F32 [16]",
            "conv2.weight F32 [16, 8, 3, 3]",
            "dense.bias F32 [10]",
            "dense.weight F32 [10, 784]"
        ]
    );
}

/// The same network and metadata give the same bytes on every save, with
/// the metadata's keys in order (the `safetensors` crate alone writes them
/// in a `HashMap`'s random order); both readers accept them.
#[test]
fn metadata_is_written_in_key_order_and_the_bytes_do_not_change() {
    let net = trained_like::<seed1::Params>(5);
    let meta: io::Metadata =
        [("zeta", "1"), ("alpha", "2"), ("m\"id", "\u{e9}\n"), ("beta", ""), ("k0", "x"), ("k1", "y")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let bytes = io::to_bytes(&*net, &meta).unwrap();
    for _ in 0..8 {
        assert_eq!(io::to_bytes(&*net, &meta).unwrap(), bytes);
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "the header is padded to a multiple of 8 bytes");
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let at = |key: &str| header.find(&format!("{key:?}:")).unwrap_or_else(|| panic!("{key} not in {header}"));
    let keys = ["alpha", "beta", "k0", "k1", "m\"id", "zeta"];
    assert!(keys.windows(2).all(|k| at(k[0]) < at(k[1])), "keys out of order in {header}");
    assert!(header.starts_with(r#"{"__metadata__":{"alpha":"2","#), "{header}");
    let mut copy = seed1::Params::boxed_zeroed();
    assert_eq!(io::load_bytes(&mut *copy, &bytes).unwrap(), meta);
    assert_eq!(bits(copy.as_flat()), bits(net.as_flat()));
    let st = SafeTensorsView::parse(&bytes).unwrap();
    st.validate_all().unwrap();
    assert!(st.metadata("m\"id").unwrap().unwrap().eq_str("\u{e9}\n"));
    // Without metadata: no `__metadata__`, the same tensor entries and the
    // same data section.
    let plain = io::to_bytes(&*net, &io::Metadata::new()).unwrap();
    let p = u64::from_le_bytes(plain[..8].try_into().unwrap()) as usize;
    let plain_header = std::str::from_utf8(&plain[8..8 + p]).unwrap().trim_end();
    assert!(!plain_header.contains("__metadata__"));
    assert!(header.trim_end().ends_with(&format!(",{}", &plain_header[1..])), "{header} against {plain_header}");
    assert_eq!(&plain[8 + p..], &bytes[8 + n..]);
}

#[test]
fn the_sizes_the_io_docs_give_are_right() {
    use constnet::train::TrainState;
    use std::mem::size_of;
    let kb = |b: usize| b as f64 / 1000.0;
    // The parameters are exact; workspaces hold layer caches that change with the
    // kernels, so the table in src/io/mod.rs gives them to about 10%.
    assert_eq!(size_of::<fashion10::Params>(), 36_392);
    assert_eq!(size_of::<constnet::zoo::tfconv::Params>(), 13_098_536);
    for (what, got, doc) in [
        ("fashion10 Workspace<1>", kb(size_of::<fashion10::Workspace<1>>()), 100.0),
        ("fashion10 TrainState<1>", kb(size_of::<TrainState<fashion10::Params, 1>>()), 150.0),
        ("fashion10 TrainState<32>", kb(size_of::<TrainState<fashion10::Params, 32>>()), 3500.0),
        ("tfconv Workspace<1>", kb(size_of::<constnet::zoo::tfconv::Workspace<1>>()), 420.0),
    ] {
        assert!((got / doc - 1.0).abs() < 0.1, "{what} is {got} KB, the docs say ~{doc} KB: update src/io/mod.rs");
    }
}

#[test]
fn layers_without_bias_have_no_bias_tensor() {
    let net = trained_like::<seed1::Params>(1);
    let bytes = io::to_bytes(&*net, &io::Metadata::new()).unwrap();
    let st = SafeTensorsView::parse(&bytes).unwrap();
    let names: Vec<String> = st.tensors().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["conv.weight", "dense.weight"]);
    let mut back = seed1::Params::zeroed();
    io::load_from_bytes(&mut back, &bytes).unwrap();
    assert_eq!(back, *net);
}

/// A file written by the reference Python implementation,
/// `safetensors.numpy.save_file` (the serializer `safetensors.torch.save_file`
/// also calls), for the fashion10 architecture under PyTorch's state_dict
/// names, and the output of a NumPy re-implementation of PyTorch's forward
/// pass on it. Both come from `scripts/crosscheck_safetensors.py`:
///
/// ```text
/// rng = np.random.default_rng(0)
/// params = {k: (rng.standard_normal(s) * 0.3).astype(np.float32) for k, s in SHAPES.items()}
/// save_file(params, "tests/data/python_fashion10.safetensors", metadata={"format": "pt"})
/// x = np.array([[((y * 28 + xx) % 17) / 16.0 for xx in range(28)] for y in range(28)])[None]
/// forward(params, x)  # conv2d pad 1, relu, maxpool 2, twice; flatten; linear; softmax (float64)
/// ```
#[test]
fn a_file_written_by_the_python_reference_writer_loads_and_predicts_as_numpy() {
    let bytes = include_bytes!("data/python_fashion10.safetensors");
    let mut net = fashion10::Params::boxed_zeroed();
    let meta = io::load_bytes(&mut *net, bytes).unwrap();
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
    let mut same = fashion10::Params::boxed_zeroed();
    io::load_from_bytes(&mut *same, bytes).unwrap();
    assert_eq!(bits(same.as_flat()), bits(net.as_flat()));

    let golden = [
        3.181094e-10,
        2.471786e-14,
        0.07403858,
        0.002553553,
        9.072761e-06,
        3.16966e-09,
        1.568436e-09,
        4.858078e-07,
        0.9222074,
        0.001190946,
    ];
    let mut ws = fashion10::Workspace::<1>::boxed_zeroed();
    let p = net.predict(&input(0), &mut ws);
    for (i, (&got, &want)) in p.as_flat().iter().zip(&golden).enumerate() {
        let diff = (got - want).abs();
        assert!(diff <= 1e-5, "class {i}: constnet {got}, numpy {want}, |diff| {diff} > 1e-5");
    }
}

// ---- Bad files ----------------------------------------------------------

/// A file from a header and a data buffer.
fn file(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend((0..data_len).map(|i| i as u8));
    b
}

/// A header entry.
fn entry(name: &str, dtype: &str, shape: &[usize], begin: usize, end: usize) -> String {
    format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{begin},{end}]}}"#)
}

/// The valid header for `tiny`, entries in PyTorch's state_dict order,
/// with optional replacements: `(name, dtype, shape)`.
fn tiny_header(edit: impl Fn(&str, &str, Vec<usize>) -> Option<(String, String, Vec<usize>)>) -> (String, usize) {
    let mut off = 0;
    let mut parts = vec![r#""__metadata__":{"format":"pt"}"#.to_string()];
    for (name, shape) in [
        ("conv.weight", vec![2, 1, 3, 3]),
        ("conv.bias", vec![2]),
        ("dense.weight", vec![3, 8]),
        ("dense.bias", vec![3]),
    ] {
        if let Some((n, d, s)) = edit(name, "F32", shape) {
            let bytes = s.iter().product::<usize>() * if d == "F64" { 8 } else { 4 };
            parts.push(entry(&n, &d, &s, off, off + bytes));
            off += bytes;
        }
    }
    (format!("{{{}}}", parts.join(",")), off)
}

fn valid() -> Vec<u8> {
    let (h, n) = tiny_header(|n, d, s| Some((n.into(), d.into(), s)));
    file(&h, n)
}

/// Loads `bytes` through both loaders, checks `net` is unchanged by a
/// failed load, and returns both errors' messages.
fn both_fail(bytes: &[u8]) -> (ErrorKind, String, String) {
    let sentinel = {
        let mut n = tiny::Params::zeroed();
        n.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 + 0.5);
        n
    };
    let mut a = sentinel.clone();
    let std_err = io::load_bytes(&mut a, bytes).expect_err("the std loader accepted a bad file");
    assert_eq!(a, sentinel, "the std loader changed the network before failing: {std_err}");
    let mut b = sentinel.clone();
    let core_err = io::load_from_bytes(&mut b, bytes).expect_err("the no_std loader accepted a bad file");
    assert_eq!(b, sentinel, "the no_std loader changed the network before failing: {core_err}");
    let (s, c) = (std_err.to_string(), core_err.to_string());
    (std_err.kind, s, c)
}

#[test]
fn the_valid_tiny_file_loads_both_ways() {
    let bytes = valid();
    let mut a = tiny::Params::zeroed();
    io::load_bytes(&mut a, &bytes).unwrap();
    let mut b = tiny::Params::zeroed();
    io::load_from_bytes(&mut b, &bytes).unwrap();
    assert_eq!(a, b);
    // Data bytes 0, 1, 2, ... so the first weight is f32::from_le_bytes([0, 1, 2, 3]).
    assert_eq!(a.conv.weight[0][0][0][0], f32::from_le_bytes([0, 1, 2, 3]));
    assert_eq!(a.dense.bias[2], f32::from_le_bytes([184, 185, 186, 187]));
}

#[test]
fn truncated_file() {
    let mut bytes = valid();
    bytes.pop();
    let (kind, s, c) = both_fail(&bytes);
    assert!(matches!(kind, ErrorKind::Format(_)), "{s}");
    assert!(c.contains("past the 187-byte data buffer"), "{c}");
    for cut in [0, 7, 8, 30] {
        let (kind, s, c) = both_fail(&bytes[..cut]);
        assert!(matches!(kind, ErrorKind::Format(_)), "{s}");
        assert!(c.contains(if cut < 8 { "shorter than the 8-byte header length" } else { "runs past the end" }), "{c}");
    }
}

#[test]
fn wrong_dtype() {
    let (h, n) =
        tiny_header(|name, d, s| Some((name.into(), if name == "dense.bias" { "F64".into() } else { d.into() }, s)));
    let (kind, s, c) = both_fail(&file(&h, n));
    assert!(matches!(&kind, ErrorKind::Dtype { tensor, found } if tensor == "dense.bias" && found == "F64"), "{s}");
    assert_eq!(c, "tensor \"dense.bias\": expected dtype F32 (or I64 of integers within ±2^24), found F64");
    assert_eq!(
        s,
        "safetensors bytes: tensor \"dense.bias\": expected dtype F32 (or I64 of integers within ±2^24), found F64"
    );
}

#[test]
fn wrong_shape() {
    let (h, n) =
        tiny_header(|name, d, s| Some((name.into(), d.into(), if name == "dense.weight" { vec![8, 3] } else { s })));
    let (kind, s, c) = both_fail(&file(&h, n));
    assert!(
        matches!(&kind, ErrorKind::Shape { tensor, expected, found } if tensor == "dense.weight" && expected == &[3, 8] && found == &[8, 3]),
        "{s}"
    );
    assert_eq!(c, "tensor \"dense.weight\": expected shape [3, 8], found [8, 3]");
    // Same element count, other rank.
    let (h, n) =
        tiny_header(|name, d, s| Some((name.into(), d.into(), if name == "conv.weight" { vec![18] } else { s })));
    let (_, _, c) = both_fail(&file(&h, n));
    assert_eq!(c, "tensor \"conv.weight\": expected shape [2, 1, 3, 3], found [18]");
    // Rank 6: the no_std error keeps 4 dimensions, the std one all.
    let (h, n) = tiny_header(|name, d, s| {
        Some((name.into(), d.into(), if name == "conv.weight" { vec![2, 1, 1, 3, 1, 3] } else { s }))
    });
    let (kind, s, c) = both_fail(&file(&h, n));
    assert_eq!(c, "tensor \"conv.weight\": expected shape [2, 1, 3, 3], found [2, 1, 1, 3, ... (6 dimensions)]");
    assert!(matches!(&kind, ErrorKind::Shape { found, .. } if found == &[2, 1, 1, 3, 1, 3]), "{s}");
}

#[test]
fn missing_tensor() {
    let (h, n) = tiny_header(|name, d, s| (name != "conv.bias").then(|| (name.into(), d.into(), s)));
    let (kind, s, c) = both_fail(&file(&h, n));
    assert!(matches!(&kind, ErrorKind::Missing { tensor } if tensor == "conv.bias"), "{s}");
    assert_eq!(c, "tensor \"conv.bias\" is missing: the network has it, the file does not");
}

#[test]
fn extra_tensor() {
    let (h, n) = tiny_header(|name, d, s| Some((name.into(), d.into(), s)));
    let h = format!("{},{}}}", &h[..h.len() - 1], entry("dense2.weight", "F32", &[1], n, n + 4));
    let (kind, s, c) = both_fail(&file(&h, n + 4));
    assert!(matches!(&kind, ErrorKind::Extra { tensor } if tensor == "dense2.weight"), "{s}");
    assert!(c.starts_with("tensor \"dense2.weight\" is not a parameter of the network"), "{c}");
}

#[test]
fn renamed_tensor_is_missing() {
    let (h, n) = tiny_header(|name, d, s| Some((name.replace("conv.", "conv1."), d.into(), s)));
    let (kind, s, _) = both_fail(&file(&h, n));
    assert!(matches!(&kind, ErrorKind::Missing { tensor } if tensor == "conv.weight"), "{s}");
}

#[test]
fn header_too_large_or_beyond_the_file() {
    let mut bytes = valid();
    bytes[..8].copy_from_slice(&100_000_001u64.to_le_bytes());
    let (_, s, c) = both_fail(&bytes);
    assert!(c.contains("header length 100000001 is over the limit of 100000000 bytes"), "{c}");
    assert!(s.contains("header length 100000001 is over the limit of 100000000 bytes"), "{s}");
    for n in [u64::MAX, 1 << 40, bytes.len() as u64 - 7] {
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        let (_, _, c) = both_fail(&bytes);
        assert!(c.contains("over the limit") || c.contains("runs past the end of the file"), "{c}");
    }
}

#[test]
fn invalid_json() {
    let good = valid();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let h = std::str::from_utf8(&good[8..8 + header_len]).unwrap().to_string();
    for (bad, expect) in [
        (h.replacen('{', "[", 1), "expected '{' opening the header"),
        (h.replacen(':', " ", 1), "expected ':' after a key"),
        (h.replace("[0,72]", "[0,72.0]"), "expected an integer (no fraction or exponent)"),
        (h.replace("[0,72]", "[-0,72]"), "expected a non-negative integer"),
        (h.replace("\"pt\"", "\"p\\qt\""), "expected a valid escape"),
        (h.replace("\"pt\"", "null"), "expected a string value in \"__metadata__\""),
        (h.replacen("\"F32\"", "F32", 1), "expected a dtype string"),
        (h.replacen("\"F32\"", "\"F33\"", 1), "unknown dtype \"F33\""),
        (h.replacen("\"shape\"", "\"shapes\"", 1), "unknown key \"shapes\""),
        (h.replacen(",\"data_offsets\":[0,72]", "", 1), "has no \"data_offsets\""),
        (h.replace("[0,72]", "[0,72,80]"), "data_offsets must be two integers"),
        (format!("{h}x"), "only whitespace after the header's closing '}'"),
        (format!("{h},"), "only whitespace after the header's closing '}'"),
        (h[..h.len() - 1].to_string(), "expected ',' or '}' after a header entry"),
        (h.replacen("conv.weight", "conv.weight\u{1}", 1), "no control character"),
    ] {
        let mut b = (bad.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(bad.as_bytes());
        b.extend_from_slice(&good[8 + header_len..]);
        assert!(io::load_from_bytes(&mut tiny::Params::zeroed(), &b).is_err(), "accepted: {bad}");
        let (kind, s, c) = both_fail(&b);
        assert!(matches!(kind, ErrorKind::Format(_)), "{s}");
        assert!(c.contains(expect), "header {bad}\n  error: {c}\n  expected it to contain: {expect}");
    }
    // Not UTF-8.
    let mut b = good.clone();
    b[8 + 5] = 0xff;
    let (_, _, c) = both_fail(&b);
    assert!(c.contains("not valid UTF-8 (byte offset 13)"), "{c}");
    // Trailing spaces (the reference writer pads the header to 8 bytes) are fine.
    let padded = format!("{h}   ");
    let mut b = (padded.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(padded.as_bytes());
    b.extend_from_slice(&good[8 + header_len..]);
    io::load_from_bytes(&mut tiny::Params::zeroed(), &b).unwrap();
    io::load_bytes(&mut tiny::Params::zeroed(), &b).unwrap();
}

#[test]
fn overlapping_or_out_of_range_offsets() {
    let with = |edits: &[(&str, (usize, usize))], data_len: usize| {
        let mut parts = vec![];
        for (name, shape, (b, e)) in [
            ("conv.weight", vec![2, 1, 3, 3], (0, 72)),
            ("conv.bias", vec![2], (72, 80)),
            ("dense.weight", vec![3, 8], (80, 176)),
            ("dense.bias", vec![3], (176, 188)),
        ] {
            let (b, e) = edits.iter().find(|(n, _)| *n == name).map_or((b, e), |(_, o)| *o);
            parts.push(entry(name, "F32", &shape, b, e));
        }
        file(&format!("{{{}}}", parts.join(",")), data_len)
    };
    io::load_from_bytes(&mut tiny::Params::zeroed(), &with(&[], 188)).unwrap();

    // Two tensors on the same bytes, and a hole (72..80) that keeps the total.
    let (_, s, c) = both_fail(&with(&[("conv.bias", (0, 8))], 188));
    assert!(c.contains("\"conv.weight\" and \"conv.bias\" have overlapping data_offsets"), "{c}");
    assert!(s.contains("\"conv.weight\" and \"conv.bias\" have overlapping data_offsets"), "{s}");
    // Overlap making the lengths add up to more than the buffer.
    let (_, _, c) = both_fail(&with(&[("dense.bias", (168, 180))], 180));
    assert!(c.contains("their ranges overlap"), "{c}");
    // Past the end of the data buffer.
    let (_, _, c) = both_fail(&with(&[("dense.bias", (200, 212))], 188));
    assert!(c.contains("tensor \"dense.bias\": data_offsets end at 212, past the 188-byte data buffer"), "{c}");
    // Reversed.
    let (_, _, c) = both_fail(&with(&[("conv.bias", (80, 72))], 188));
    assert!(c.contains("data_offsets [80, 72] end before they begin"), "{c}");
    // A span that does not match dtype x shape.
    let (_, _, c) = both_fail(&with(&[("conv.bias", (72, 84))], 188));
    assert!(c.contains("data_offsets span 12 bytes but its dtype and shape need 8"), "{c}");
    // Trailing bytes no tensor covers.
    let (_, _, c) = both_fail(&with(&[], 190));
    assert!(c.contains("2 bytes belong to no tensor"), "{c}");
    // Offsets beyond u64.
    let b = with(&[], 188);
    let h = String::from_utf8(b[8..b.len() - 188].to_vec()).unwrap().replace("[176,188]", "[176,18446744073709551616]");
    let (_, _, c) = both_fail(&file(&h, 188));
    assert!(c.contains("an integer below 2^64"), "{c}");
}

#[test]
fn duplicate_names_are_errors() {
    let (h, n) = tiny_header(|name, d, s| Some((name.into(), d.into(), s)));
    let h = format!("{},{}}}", &h[..h.len() - 1], entry("conv.bias", "F32", &[2], n, n + 8));
    let (_, _, c) = both_fail(&file(&h, n + 8));
    assert!(c.contains("key \"conv.bias\" appears more than once"), "{c}");
    let h = h.replacen("\"format\"", "\"format\":\"x\",\"format\"", 1);
    let st_bytes = file(&h, n + 8);
    let st = SafeTensorsView::parse(&st_bytes).unwrap();
    assert!(matches!(st.metadata("format"), Err(FormatError::DuplicateKey { .. })));
    assert!(st.validate_all().is_err());
}

#[test]
fn file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("constnet-io-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("nope.safetensors");
    let e = io::load_file(&mut tiny::Params::zeroed(), &missing).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io(_)) && e.to_string().contains("nope.safetensors"), "{e}");

    let bad = dir.join("bad.safetensors");
    let (h, n) = tiny_header(|name, d, s| Some((name.into(), d.into(), if name == "conv.bias" { vec![3] } else { s })));
    std::fs::write(&bad, file(&h, n)).unwrap();
    let e = io::load_file(&mut tiny::Params::zeroed(), &bad).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: tensor \"conv.bias\": expected shape [2], found [3]", bad.display()));

    // A (sparse) file longer than any valid file for the network is refused.
    let big = dir.join("big.safetensors");
    let max = 8 + io::MAX_HEADER_LEN as u64 + 4 * tiny::Params::LEN as u64;
    std::fs::File::create(&big).unwrap().set_len(max + 1).unwrap();
    let e = io::load_file(&mut tiny::Params::zeroed(), &big).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TooLarge { len, .. } if len == max + 1), "{e}");

    let e = io::save_file(&tiny::Params::zeroed(), dir.join("no/such/dir/x.safetensors")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io(_)) && e.to_string().contains("x.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `save_file` replaces an existing file whole, through a temporary file
/// beside it that it does not leave behind, and the file gets a new file's
/// usual permissions (the `safetensors` crate's writer made it 0600).
#[test]
fn save_file_replaces_the_file_and_leaves_no_temporary_file() {
    let dir = std::env::temp_dir().join(format!("constnet-io-replace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    std::fs::write(&path, vec![7u8; 100_000]).unwrap();
    let mut net = tiny::Params::zeroed();
    net.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 - 2.5);
    io::save_file(&net, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), io::to_bytes(&net, &io::Metadata::new()).unwrap());
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["net.safetensors"], "a temporary file was left behind");
    // The mode of a file made the plain way (under a umask of 077 that is
    // 0600 too, and this cannot tell).
    std::fs::File::create(dir.join("control")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&dir.join("control")));
    }
    // A path that names no file is refused by name; one that names a
    // directory fails at the rename, by name, and leaves nothing.
    let e = io::save_file(&net, dir.join("..")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io(_)) && e.to_string().contains(".."), "{e}");
    std::fs::create_dir(dir.join("sub")).unwrap();
    let e = io::save_file(&net, dir.join("sub")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io(_)) && e.to_string().contains("sub"), "{e}");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["control", "net.safetensors", "sub"], "a temporary file was left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_no_std_error_names_borrow_from_the_file() {
    let (h, n) = tiny_header(|name, d, s| Some((name.into(), d.into(), s)));
    let h = format!("{},{}}}", &h[..h.len() - 1], entry("b\\u00e9", "F32", &[1], n, n + 4));
    let bytes = file(&h, n + 4);
    match io::load_from_bytes(&mut tiny::Params::zeroed(), &bytes) {
        Err(LoadError::Extra { name }) => {
            assert!(name.eq_str("b\u{e9}"));
            assert_eq!(format!("{name:?}"), "\"b\u{e9}\"");
        }
        other => panic!("expected an Extra error, got {other:?}"),
    }
}

/// A NaN or an infinity among the weights is refused on load, by the std
/// and the no_std paths, with an error naming the tensor and the first bad
/// index, and the network is left as it was; `LoadOptions` accepts them,
/// bit for bit.
#[test]
fn non_finite_weights_are_refused_unless_accepted() {
    use constnet::io::LoadOptions;
    for (bad, index) in [(f32::NAN, 5usize), (f32::INFINITY, 0), (f32::NEG_INFINITY, 7839)] {
        let mut net = trained_like::<fashion10::Params>(3);
        net.dense.weight.as_flat_mut()[index] = bad;
        net.dense.weight.as_flat_mut()[7839.min(index + 1)] = f32::NAN; // a later one: the first is named
        let bytes = io::to_bytes(&*net, &io::Metadata::new()).unwrap();
        let before = trained_like::<fashion10::Params>(4);
        let mut into = before.clone();
        let err = io::load_bytes(&mut *into, &bytes).unwrap_err();
        assert!(
            matches!(&err.kind, ErrorKind::NonFinite { tensor, index: i, .. } if tensor == "dense.weight" && *i == index),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("\"dense.weight\": value {index} is")), "{err}");
        assert_eq!(into.as_flat(), before.as_flat(), "nothing written");
        let mut into = before.clone();
        let e = io::load_from_bytes(&mut *into, &bytes).unwrap_err();
        assert!(
            matches!(e, LoadError::NonFinite { layer: "dense", param: "weight", index: i, .. } if i == index),
            "{e}"
        );
        assert_eq!(into.as_flat(), before.as_flat(), "nothing written (no_std)");
        // Accepted when asked, bit for bit.
        let mut into = before.clone();
        io::load_bytes_with(&mut *into, &bytes, LoadOptions { allow_non_finite: true, ..LoadOptions::default() })
            .unwrap();
        let bits = |p: &fashion10::Params| p.as_flat().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&into), bits(&net));
    }
}

constnet::network! {
    /// A `Conv2dRect` (3 x 1 kernel, padding (1, 0), strides (2, 1)) in a network.
    mod rectnet {
        input: Tensor<1, 28, 28>,
        conv: constnet::Conv2dRect<1, 4, 3, 1, 1, 0, 2, 1>,
        relu: constnet::Relu,
        dense: constnet::Dense<1568, 10>,
    }
}

/// A `Conv2dRect` saves under PyTorch's names and shapes
/// (`weight [OUT_C, IN_C, KH, KW]`), loads back bit for bit, and the
/// summary names it.
#[test]
fn a_conv2d_rect_round_trips_under_pytorchs_names() {
    let net = trained_like::<rectnet::Params>(4);
    let bytes = io::to_bytes(&*net, &io::Metadata::new()).unwrap();
    let st = SafeTensorsView::parse(&bytes).unwrap();
    let mut names: Vec<String> = st.tensors().map(|t| format!("{} {}", t.name, t.dims())).collect();
    names.sort();
    assert_eq!(names, ["conv.bias [4]", "conv.weight [4, 1, 3, 1]", "dense.bias [10]", "dense.weight [10, 1568]"]);
    let mut back = rectnet::Params::boxed_zeroed();
    io::load_bytes(&mut *back, &bytes).unwrap();
    assert_eq!(bits(back.as_flat()), bits(net.as_flat()));
    let (mut w1, mut w2) = (rectnet::Workspace::<1>::boxed_zeroed(), rectnet::Workspace::<1>::boxed_zeroed());
    let (p, q) = (net.predict(&input(1), &mut w1), back.predict(&input(1), &mut w2));
    assert_eq!(bits(p.as_flat()), bits(q.as_flat()));
    let summary = constnet::Summary::<rectnet::Params, 1>::new().to_string();
    assert!(summary.contains("Conv2dRect<1, 4, 3, 1, 1, 0, 2, 1>"), "{summary}");
    assert!(summary.contains("4 x 14 x 28"), "{summary}");
}
