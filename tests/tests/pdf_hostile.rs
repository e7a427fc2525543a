//! Structurally hostile PDFs (tests/src/pdfgen.rs) against the validator, on stable so every CI machine
//! runs them: deep nesting of arrays and dictionaries (inline and inside compressed object streams), long
//! filter chains, impossible declared lengths, page trees that loop, huge object counts, object streams
//! that point at themselves, decompression bombs, cross-reference streams that would loop forever.
//!
//! Each must end as a report or a permanent file error naming the order, quickly, and never crash the
//! process. Before the pre-scan, the nesting cases aborted this test binary (stack overflow) and the bombs
//! allocated without limit.

use printcore::files::pdf::validate_pdf_with;
use printcore::files::prescan::ScanLimits;
use printcore::files::validate_pdf;
use printcore::Error;
use printcore_tests::pdfgen::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// Validation ends, as a report or a permanent error naming the order, within a few seconds (a debug
/// build).
fn ends(bytes: &[u8], limits: &ScanLimits) -> Result<u32, String> {
    let start = Instant::now();
    let result = validate_pdf_with("HOSTILE-1", "https://res.cloudinary.com/x/f.pdf?sig=s", bytes, limits);
    assert!(start.elapsed() < Duration::from_secs(20), "validation took {:?}", start.elapsed());
    match result {
        Ok(r) => {
            assert!(r.pages >= 1 && r.page_sizes.len() == r.pages as usize);
            Ok(r.pages)
        }
        Err(e @ Error::File { transient: false, .. }) => {
            let m = e.to_string();
            assert!(m.contains("order HOSTILE-1") && !m.contains("sig=s"), "{m}");
            Err(m)
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

fn refused(bytes: &[u8], words: &[&str]) {
    let m = ends(bytes, &ScanLimits::default()).expect_err("the file is refused");
    for w in words.iter().chain(&["export it again"]) {
        assert!(m.contains(w), "{w:?} missing from: {m}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn nesting_is_read_up_to_the_limit_and_refused_past_it(depth in 1usize..4000, dicts in any::<bool>()) {
        let bytes = if dicts { deep_dicts(depth) } else { deep_arrays(depth) };
        // The page dictionary is one level, the value under /Deep the rest.
        match ends(&bytes, &ScanLimits::default()) {
            Ok(pages) => prop_assert!(depth < 100 && pages == 1, "depth {depth} accepted"),
            Err(m) => prop_assert!(depth >= 100 && m.contains("levels deep"), "depth {depth}: {m}"),
        }
    }

    #[test]
    fn nesting_inside_object_streams_is_found(depth in 1usize..3000, layers in 0usize..3, mixed in any::<bool>()) {
        let bytes = deep_in_object_stream(depth, layers, mixed);
        match ends(&bytes, &ScanLimits::default()) {
            Ok(_) => prop_assert!(depth <= 100, "depth {depth} accepted"),
            Err(m) => prop_assert!(depth > 100 && m.contains("inside a compressed object stream"), "depth {depth}: {m}"),
        }
    }

    #[test]
    fn filter_chains_longer_than_four_are_refused(n in 1usize..40) {
        match ends(&filter_chain(n), &ScanLimits::default()) {
            Ok(_) => prop_assert!(n <= 4),
            Err(m) => prop_assert!(n > 4 && m.contains(&format!("stacks {n} compression filters")), "{m}"),
        }
    }

    #[test]
    fn declared_lengths_past_the_file_or_negative_are_refused(declared in prop_oneof![
        any::<i64>(),
        0i64..100_000,
        Just(i64::MAX),
        Just(i64::MIN),
    ]) {
        let bytes = huge_declared_length(declared);
        let r = ends(&bytes, &ScanLimits::default());
        if declared < 0 {
            prop_assert!(r.clone().unwrap_err().contains("negative length"), "{r:?}");
        } else if declared as u64 > bytes.len() as u64 {
            prop_assert!(r.clone().unwrap_err().contains("more than the whole file"), "{r:?}");
        }
    }

    #[test]
    fn page_trees_that_loop_say_so(depth in 1usize..200, self_kid in any::<bool>()) {
        let m = ends(&page_tree_loop(depth, self_kid), &ScanLimits::default()).unwrap_err();
        prop_assert!(m.contains("page tree loops back on itself") || (depth >= 64 && m.contains("levels deep")), "{m}");
    }

    #[test]
    fn object_counts_over_the_limit_are_refused(n in 0usize..3000) {
        let limits = ScanLimits { max_objects: 1000, ..ScanLimits::default() };
        match ends(&many_objects(n), &limits) {
            Ok(_) => prop_assert!(n + 3 <= 1000),
            Err(m) => prop_assert!(n + 3 > 1000 && m.contains("more than 1000 objects"), "{m}"),
        }
    }

    #[test]
    fn bombs_are_stopped_at_the_cap(mb in 1usize..6, layers in 1usize..4) {
        let limits = ScanLimits { max_stream_bytes: 2 * 1024 * 1024, ..ScanLimits::default() };
        match ends(&decompression_bomb(mb, layers), &limits) {
            Ok(_) => prop_assert!(mb <= 2),
            Err(m) => prop_assert!(mb > 1 && m.contains("decompression bomb"), "{m}"),
        }
    }

    /// Any of the hostile files with a few bytes flipped: still a report or an error, never a crash.
    #[test]
    fn mutated_hostile_files_never_crash(
        which in 0usize..9,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
    ) {
        let mut bytes = match which {
            0 => deep_arrays(5000),
            1 => deep_dicts(3000),
            2 => deep_in_object_stream(2000, 1, true),
            3 => filter_chain(12),
            4 => huge_declared_length(1 << 40),
            5 => page_tree_loop(3, false),
            6 => object_stream_pointing_at_itself(),
            7 => decompression_bomb(3, 2),
            _ => xref_stream_zero_widths(),
        };
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = ends(&bytes, &ScanLimits { max_stream_bytes: 2 * 1024 * 1024, ..ScanLimits::default() });
    }
}

#[test]
fn each_hostile_class_gets_a_reason_an_admin_can_act_on() {
    refused(&deep_arrays(100_000), &["more than 100 levels deep"]);
    refused(&deep_dicts(50_000), &["more than 100 levels deep"]);
    refused(&deep_in_object_stream(50_000, 2, false), &["inside a compressed object stream"]);
    refused(&filter_chain(20), &["stacks 20 compression filters"]);
    refused(&huge_declared_length(1 << 50), &["more than the whole file"]);
    refused(&page_tree_loop(1, true), &["page tree loops back on itself"]);
    refused(&page_tree_loop(5, false), &["page tree loops back on itself"]);
    refused(&many_objects(500_001), &["more than 500000 objects"]);
    refused(&xref_stream_zero_widths(), &["cross-reference stream is invalid"]);
    // Two stacked Flate filters: a few hundred KB on disk, 80 MB inflated.
    let bomb = decompression_bomb(80, 2);
    assert!(bomb.len() < 200_000, "the bomb is small: {} bytes", bomb.len());
    refused(&bomb, &["decompression bomb", "64 MB"]);
    // An object stream that points at itself is harmless once bounded: the page prints.
    assert_eq!(validate_pdf("HOSTILE-1", "u", &object_stream_pointing_at_itself()).unwrap().pages, 1);
}

/// The classes a security review walked around the pre-scan with (tests/src/pdfstruct.rs builds them;
/// the `structural_pdf` fuzz target combines them). Before the pre-scan read names, `startxref`, the
/// cross-reference stream and indirect lengths as lopdf does, each of these reached lopdf: the escaped
/// object stream's bomb was validated and sent to the printer, the others overflowed lopdf's stack,
/// allocated without bound or parsed for hours.
mod structural {
    use super::*;
    use printcore_tests::pdfstruct::{document, from_choices, Inner, Piece, Xref};

    #[test]
    fn an_object_stream_typed_with_an_escaped_name_is_decoded_like_any_other() {
        // The review's 7 KB file: /Obj#53tm, two Flate layers, a bomb inside.
        let bomb = document(&[Piece::ObjStm { escaped: true, layers: 2, inner: Inner::Bomb(80) }], Xref::Table);
        assert!(bomb.len() < 20_000, "{} bytes", bomb.len());
        assert!(bomb.windows(9).any(|w| w == b"/Obj#53tm"));
        refused(&bomb, &["decompression bomb"]);
        let deep = document(&[Piece::ObjStm { escaped: true, layers: 1, inner: Inner::Nest(5000) }], Xref::Table);
        refused(&deep, &["inside a compressed object stream"]);
        // Escaped filter names count too.
        let filters = document(&[Piece::ObjStm { escaped: true, layers: 12, inner: Inner::Objects(3) }], Xref::Table);
        refused(&filters, &["stacks 12 compression filters"]);
        // The same construct at a normal size is an ordinary file.
        let fine = document(&[Piece::ObjStm { escaped: true, layers: 1, inner: Inner::Objects(50) }], Xref::Table);
        assert_eq!(ends(&fine, &ScanLimits::default()), Ok(1));
    }

    #[test]
    fn a_startxref_hidden_in_a_comment_is_followed_as_lopdf_follows_it() {
        let bytes = document(&[Piece::StartxrefInComment { depth: 20_000 }], Xref::Table);
        refused(&bytes, &["more than 100 levels deep"]);
        // At an ordinary depth lopdf reads the hidden object, finds no cross-reference there, and the
        // file is refused as damaged, not crashed on.
        let shallow = document(&[Piece::StartxrefInComment { depth: 3 }], Xref::Table);
        let m = ends(&shallow, &ScanLimits::default()).unwrap_err();
        assert!(m.contains("damaged"), "{m}");
    }

    #[test]
    fn a_stream_at_the_cross_reference_position_is_decoded_whatever_its_type() {
        let untyped_bomb = document(&[], Xref::Stream { typed: false, layers: 2, bomb_mb: 80 });
        refused(&untyped_bomb, &["decompression bomb"]);
        let typed_bomb = document(&[], Xref::Stream { typed: true, layers: 2, bomb_mb: 80 });
        refused(&typed_bomb, &["decompression bomb"]);
        for typed in [false, true] {
            let fine =
                document(&[Piece::Nest { depth: 5, dicts: true }], Xref::Stream { typed, layers: 1, bomb_mb: 0 });
            assert_eq!(ends(&fine, &ScanLimits::default()), Ok(1), "typed {typed}");
        }
    }

    #[test]
    fn a_length_that_points_at_another_stream_is_refused() {
        refused(&document(&[Piece::LengthChain { links: 3000 }], Xref::Table), &["points at another stream"]);
        refused(&document(&[Piece::LengthChain { links: 2 }], Xref::Table), &["points at another stream"]);
        // One indirect length that is a number is what writers produce.
        assert_eq!(ends(&document(&[Piece::LengthChain { links: 1 }], Xref::Table), &ScanLimits::default()), Ok(1));
    }

    #[test]
    fn many_entries_on_one_large_object_are_refused() {
        let bytes = document(&[Piece::SharedEntries { entries: 20_000, kb: 1024 }], Xref::Table);
        assert!(bytes.len() < 2_000_000, "{} bytes", bytes.len());
        refused(&bytes, &["again and again"]);
        let stream = document(
            &[Piece::SharedEntries { entries: 20_000, kb: 1024 }],
            Xref::Stream { typed: true, layers: 1, bomb_mb: 0 },
        );
        refused(&stream, &["again and again"]);
        // A few entries on one small object stay acceptable.
        let fine = document(&[Piece::SharedEntries { entries: 20, kb: 4 }], Xref::Table);
        assert_eq!(ends(&fine, &ScanLimits::default()), Ok(1));
    }

    #[test]
    fn an_escaped_length_key_is_read() {
        refused(&document(&[Piece::EscapedLength { declared: 1 << 40 }], Xref::Table), &["more than the whole file"]);
        refused(&document(&[Piece::EscapedLength { declared: -5 }], Xref::Table), &["negative length"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Any combination of the pieces, at any size the generator picks: a report or a permanent error
        /// naming the order, never a crash (the fuzz target runs the same generator without the case cap).
        #[test]
        fn combined_pieces_never_crash(choices in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = ends(&from_choices(&choices), &ScanLimits::default());
        }
    }
}
