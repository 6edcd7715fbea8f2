//! Fuzzes the `no_std` safetensors reader and both loaders.
//!
//! For any input: nothing panics; if the strict reader accepts the file
//! (`parse` + `validate_all`), the reference implementation (the
//! `safetensors` crate) accepts it too and sees the same tensors with the
//! same bytes and metadata; a failed load leaves the network unchanged, and the `no_std`
//! and std loaders agree on success.
#![no_main]

use constnet::io::{self, SafeTensorsView};
use constnet::{Conv2d, Dense, Flat, MaxPool2d, Relu, Softmax, Tensor, network};
use libfuzzer_sys::fuzz_target;

network! {
    mod tiny {
        input: Tensor<1, 4, 4>,
        conv: Conv2d<1, 2, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2>,
        dense: Dense<8, 3>,
        softmax: Softmax,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(st) = SafeTensorsView::parse(data) {
        // Every accessor on an accepted file terminates without panicking.
        let mut n = 0;
        for t in st.tensors() {
            n += 1;
            let _ = (t.dims(), t.shape().count(), t.f32s().map(|v| v.count()));
            let _ = std::hint::black_box(t.name.to_string());
        }
        assert_eq!(n, st.len());
        for (k, v) in st.metadata_pairs() {
            let _ = (k.to_string(), format!("{v:?}"));
        }
        let _ = st.metadata("format");
        let _ = st.tensor("conv.weight");

        if st.validate_all().is_ok() {
            let reference = safetensors::SafeTensors::deserialize(data)
                .unwrap_or_else(|e| panic!("strict reader accepted a file the reference rejects: {e}"));
            assert_eq!(reference.len(), st.len());
            for t in st.tensors() {
                let name = t.name.to_string();
                let r = reference.tensor(&name).expect("tensor missing in the reference's view");
                assert_eq!(r.data(), t.data, "{name}: bytes differ");
                assert_eq!(r.dtype().to_string(), t.dtype.to_string(), "{name}: dtype differs");
                assert!(t.shape_is(r.shape()), "{name}: shape differs");
            }
            // The std loader returns the strict reader's metadata: the
            // reference must read the same pairs.
            let (_, meta) = safetensors::SafeTensors::read_metadata(data).expect("accepted above");
            let want: std::collections::BTreeMap<String, String> =
                meta.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
            let got: std::collections::BTreeMap<String, String> =
                st.metadata_pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(got, want, "metadata differs");
        }
    }

    let mut a = tiny::Params::zeroed();
    let ok_core = io::load_from_bytes(&mut a, data).is_ok();
    if !ok_core {
        assert_eq!(a, tiny::Params::zeroed(), "a failed no_std load changed the network");
    }
    let mut b = tiny::Params::zeroed();
    let ok_std = io::load_bytes(&mut b, data).is_ok();
    if ok_std {
        assert!(ok_core, "the std loader accepted what the no_std loader rejected");
        assert_eq!(
            a.as_flat().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.as_flat().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    } else {
        assert_eq!(b, tiny::Params::zeroed(), "a failed std load changed the network");
    }
});
