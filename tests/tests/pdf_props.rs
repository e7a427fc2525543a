//! The PDF validator against hostile input: random bytes, mutated and truncated real PDFs, and the
//! corpus in tests/corpus/pdf (ok-*.pdf must validate, bad-*.pdf must be refused). It never panics and
//! every refusal is a permanent file error naming the order.

use printcore::files::validate_pdf;
use printcore::Error;
use printcore_tests::pdfgen::*;
use proptest::prelude::*;
use std::path::PathBuf;

fn check(bytes: &[u8]) {
    match validate_pdf("FUZZ-1", "https://res.cloudinary.com/x/f.pdf", bytes) {
        Ok(report) => {
            assert!(report.pages >= 1);
            assert_eq!(report.page_sizes.len(), report.pages as usize);
            assert_eq!(report.bytes, bytes.len() as u64);
        }
        Err(e @ Error::File { transient: false, .. }) => assert!(e.to_string().contains("order FUZZ-1")),
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

fn seed() -> &'static [u8] {
    static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SEED.get_or_init(|| pdf_with_pages(&[A4, A3, LETTER]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), prefix in any::<bool>()) {
        let mut input = if prefix { b"%PDF-1.7\n".to_vec() } else { Vec::new() };
        input.extend(bytes);
        check(&input);
    }

    #[test]
    fn mutated_pdfs_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24)) {
        let mut input = seed().to_vec();
        for (i, b) in flips {
            let at = i.index(input.len());
            input[at] = b;
        }
        check(&input);
    }

    #[test]
    fn truncated_pdfs_never_panic(cut in any::<prop::sample::Index>()) {
        let input = seed();
        check(&input[..cut.index(input.len())]);
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/pdf")
}

/// `REGENERATE_CORPUS=1 cargo test -p printcore-tests --test pdf_props corpus` rewrites the generated part.
#[test]
fn corpus_files_validate_or_are_refused_as_their_names_say() {
    let dir = corpus_dir();
    if std::env::var_os("REGENERATE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in [
            ("ok-a4-1page.pdf", pdf(1, A4)),
            ("ok-mixed-sizes.pdf", pdf_with_pages(&[A4, A3, LETTER])),
            ("bad-encrypted.pdf", encrypted_pdf()),
            ("bad-truncated.pdf", truncated_pdf()),
            ("bad-corrupt.pdf", corrupt_pdf()),
            ("bad-zero-pages.pdf", zero_page_pdf()),
            ("bad-html.pdf", b"<!DOCTYPE html><html><body>Sign in</body></html>".to_vec()),
            // Structurally hostile (pdf_hostile.rs has the property tests of each class).
            ("bad-deep-arrays.pdf", deep_arrays(3000)),
            ("bad-deep-dicts.pdf", deep_dicts(1000)),
            ("bad-deep-in-object-stream.pdf", deep_in_object_stream(3000, 2, true)),
            ("bad-filter-chain.pdf", filter_chain(8)),
            ("bad-huge-length.pdf", huge_declared_length(1 << 40)),
            ("bad-page-tree-loop.pdf", page_tree_loop(2, false)),
            ("bad-flate-bomb.pdf", decompression_bomb(80, 2)),
            ("bad-xref-zero-widths.pdf", xref_stream_zero_widths()),
            ("ok-object-stream-pointing-at-itself.pdf", object_stream_pointing_at_itself()),
        ] {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus is in the repository") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let result = validate_pdf("CORPUS", &name, &bytes);
        if name.starts_with("ok-") {
            assert!(result.is_ok(), "{name} should validate: {result:?}");
        } else if name.starts_with("bad-") {
            assert!(
                matches!(result, Err(Error::File { transient: false, .. })),
                "{name} should be refused: {result:?}"
            );
        }
        check(&bytes);
        seen += 1;
    }
    assert!(seen >= 16, "the corpus has its files ({seen})");
}
