//! PDFs made in the test, with lopdf: valid ones of any size and page count, and the broken kinds the
//! validator must refuse.

use lopdf::{dictionary, Document, Object, Stream};

/// Points per millimetre.
pub const A4: (f64, f64) = (595.0, 842.0);
pub const A3: (f64, f64) = (842.0, 1191.0);
pub const LETTER: (f64, f64) = (612.0, 792.0);

/// A valid PDF whose pages have the given sizes (points). The MediaBox of the first size sits on the page
/// tree and is inherited; pages of another size carry their own.
pub fn pdf_with_pages(sizes: &[(f64, f64)]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let inherited = sizes.first().copied().unwrap_or(A4);
    let mut kids = Vec::new();
    for (i, (w, h)) in sizes.iter().enumerate() {
        let text = format!("BT /F1 24 Tf 72 720 Td (printcore test page {}) Tj ET\n", i + 1);
        // Some bulk so a 50-page file is a realistic few hundred KB.
        let filler: String = (0..40)
            .map(|l| format!("BT /F1 8 Tf 72 {} Td (line {l} of page {}) Tj ET\n", 700 - l * 12, i + 1))
            .collect();
        let content_id = doc.add_object(Stream::new(dictionary! {}, format!("{text}{filler}").into_bytes()));
        let mut page = dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id };
        if (*w, *h) != inherited {
            page.set("MediaBox", vec![0.into(), 0.into(), Object::Real(*w as f32), Object::Real(*h as f32)]);
        }
        kids.push(doc.add_object(page).into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(inherited.0 as f32), Object::Real(inherited.1 as f32)],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("write the test PDF");
    out
}

/// A valid PDF of `pages` pages of one size.
pub fn pdf(pages: usize, size: (f64, f64)) -> Vec<u8> {
    pdf_with_pages(&vec![size; pages])
}

/// A PDF whose page tree has no pages.
pub fn zero_page_pdf() -> Vec<u8> {
    pdf_with_pages(&[])
}

/// A PDF with an encryption dictionary (the standard security handler) in its trailer.
pub fn encrypted_pdf() -> Vec<u8> {
    let mut doc = Document::load_mem(&pdf(1, A4)).unwrap();
    let encrypt_id = doc.add_object(dictionary! {
        "Filter" => "Standard",
        "V" => 1,
        "R" => 2,
        "O" => Object::string_literal(vec![7u8; 32]),
        "U" => Object::string_literal(vec![9u8; 32]),
        "P" => -44,
    });
    doc.trailer.set("Encrypt", encrypt_id);
    doc.trailer.set("ID", vec![Object::string_literal(vec![1u8; 16]), Object::string_literal(vec![1u8; 16])]);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// The first half of a valid PDF.
pub fn truncated_pdf() -> Vec<u8> {
    let mut b = pdf(3, A4);
    b.truncate(b.len() / 2);
    b
}

/// A PDF header followed by noise.
pub fn corrupt_pdf() -> Vec<u8> {
    let mut b = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    b.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    b
}

/// `bytes` as a file, for a `JobSpec` (whose documents are files): stored once per content under the
/// build's target folder (`target/tmp/pdf-docs/<sha256>.pdf`), so tests leave nothing new behind however
/// often they run.
pub fn pdf_file(bytes: Vec<u8>) -> std::path::PathBuf {
    use sha2::Digest;
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable");
        // target/<profile>/deps/<test> or target/<profile>/<bin>: two or three levels below target/.
        let target = exe
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "target") || a.join("CACHEDIR.TAG").exists())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let dir = target.join("tmp").join("pdf-docs");
        std::fs::create_dir_all(&dir).expect("a folder for test documents");
        dir
    });
    let path = dir.join(format!("{}.pdf", hex::encode(sha2::Sha256::digest(&bytes))));
    if !path.exists() {
        let tmp = dir.join(format!(".{}.{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, &bytes).expect("write a test document");
        std::fs::rename(&tmp, &path).expect("store a test document");
    }
    path
}

// ---------------------------------------------------------------------------------------------------
// Structurally hostile PDFs: each is a well-formed file (header, objects, a correct cross-reference
// table, trailer) whose structure attacks the parser. lopdf 0.38 alone overflows its stack on the
// nesting ones and inflates the bombs without limit.

/// The catalog, the page tree and one A4 page: objects 1, 2 and 3. `page_extra` goes into the page's
/// dictionary.
fn base_objects(page_extra: &str) -> Vec<Vec<u8>> {
    vec![
        b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
        b"<</Type/Pages/Kids[3 0 R]/Count 1/MediaBox[0 0 595 842]>>".to_vec(),
        format!("<</Type/Page/Parent 2 0 R{page_extra}>>").into_bytes(),
    ]
}

/// A PDF of these object bodies, numbered from 1 (object 1 is the catalog), with a correct xref table.
pub fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(format!("trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).bytes());
    out
}

/// A stream object body: `dict` (without `/Length`) and its data.
pub fn stream_object(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("<<{dict}/Length {}>>\nstream\n", data.len()).into_bytes();
    body.extend(data);
    body.extend(b"\nendstream");
    body
}

/// zlib-compresses `data` `times` times over.
pub fn flate(data: &[u8], times: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = data.to_vec();
    for _ in 0..times {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&out).unwrap();
        out = e.finish().unwrap();
    }
    out
}

fn filters(n: usize) -> String {
    format!("/Filter[{}]", "/FlateDecode".repeat(n))
}

/// Arrays nested `depth` deep in the page's dictionary.
pub fn deep_arrays(depth: usize) -> Vec<u8> {
    raw_pdf(&base_objects(&format!("/Deep {}0{}", "[".repeat(depth), "]".repeat(depth))))
}

/// Dictionaries nested `depth` deep in the page's dictionary.
pub fn deep_dicts(depth: usize) -> Vec<u8> {
    raw_pdf(&base_objects(&format!("/Deep {}0{}", "<</A ".repeat(depth), ">>".repeat(depth))))
}

/// An object stream (compressed `layers` times) holding one object nested `depth` deep (arrays and
/// dictionaries alternating when `mixed`).
pub fn deep_in_object_stream(depth: usize, layers: usize, mixed: bool) -> Vec<u8> {
    let open: String = (0..depth).map(|i| if mixed && i % 2 == 1 { "<</K " } else { "[" }).collect();
    let close: String = (0..depth).rev().map(|i| if mixed && i % 2 == 1 { ">>" } else { "]" }).collect();
    let header = "10 0 ";
    let content = format!("{header}{open}0{close}");
    let data = flate(content.as_bytes(), layers);
    let mut objects = base_objects("");
    objects.push(stream_object(&format!("/Type/ObjStm/N 1/First {}{}", header.len(), filters(layers)), &data));
    raw_pdf(&objects)
}

/// A page content stream compressed `n` times with `n` FlateDecode filters.
pub fn filter_chain(n: usize) -> Vec<u8> {
    let mut objects = base_objects("/Contents 4 0 R");
    objects.push(stream_object(&filters(n), &flate(b"BT /F1 12 Tf 72 720 Td (chain) Tj ET", n)));
    raw_pdf(&objects)
}

/// A page content stream whose `/Length` says `declared` bytes (the data is 5 bytes).
pub fn huge_declared_length(declared: i64) -> Vec<u8> {
    let mut objects = base_objects("/Contents 4 0 R");
    objects.push(format!("<</Length {declared}>>\nstream\nhello\nendstream").into_bytes());
    raw_pdf(&objects)
}

/// A page tree whose node `depth` levels down lists the root (or, with `self_kid`, itself) as a kid.
pub fn page_tree_loop(depth: usize, self_kid: bool) -> Vec<u8> {
    // 1 catalog, 2 root, 3.. inner nodes, last: the page.
    let depth = depth.max(1);
    let mut objects = vec![b"<</Type/Catalog/Pages 2 0 R>>".to_vec()];
    let page = 2 + depth + 1;
    for level in 0..=depth {
        let id = 2 + level;
        let parent = if level == 0 { String::new() } else { format!("/Parent {} 0 R", id - 1) };
        let kids = if level == depth {
            let back = if self_kid { id } else { 2 };
            format!("[{back} 0 R {page} 0 R]")
        } else {
            format!("[{} 0 R]", id + 1)
        };
        objects.push(format!("<</Type/Pages{parent}/Kids{kids}/Count 1/MediaBox[0 0 595 842]>>").into_bytes());
    }
    objects.push(format!("<</Type/Page/Parent {} 0 R>>", 2 + depth).into_bytes());
    raw_pdf(&objects)
}

/// A valid one-page PDF with `n` more small objects.
pub fn many_objects(n: usize) -> Vec<u8> {
    let mut objects = base_objects("");
    objects.extend(std::iter::repeat_n(b"[1 2 3 (x) /N]".to_vec(), n));
    raw_pdf(&objects)
}

/// An object stream that lists itself (object 4) among its objects and `/Extends` itself.
pub fn object_stream_pointing_at_itself() -> Vec<u8> {
    let header = "4 0 10 12 ";
    let content = format!("{header}<</Type/ObjStm/N 2/First 10/Extends 4 0 R>> [4 0 R]");
    let data = flate(content.as_bytes(), 1);
    let mut objects = base_objects("/Extra 4 0 R");
    objects.push(stream_object(
        &format!("/Type/ObjStm/N 2/First {}/Extends 4 0 R/Filter/FlateDecode", header.len()),
        &data,
    ));
    raw_pdf(&objects)
}

/// An object stream whose content inflates to `mb` MB of spaces through `layers` stacked Flate filters
/// (a few hundred bytes on disk for two layers).
pub fn decompression_bomb(mb: usize, layers: usize) -> Vec<u8> {
    let data = flate(&vec![b' '; mb * 1024 * 1024], layers);
    let mut objects = base_objects("");
    objects.push(stream_object(&format!("/Type/ObjStm/N 1/First 4{}", filters(layers)), &data));
    raw_pdf(&objects)
}

/// A cross-reference stream whose field widths are all zero (lopdf would loop over its `/Index` count
/// without reading anything).
pub fn xref_stream_zero_widths() -> Vec<u8> {
    let mut objects = base_objects("");
    objects.push(stream_object("/Type/XRef/W[0 0 0]/Size 5/Index[0 2000000000]", b"x"));
    raw_pdf(&objects)
}

/// A valid one-page PDF whose content stream is `mb` MB of drawing operators (uncompressed): a big but
/// honest file, for memory limits.
pub fn large_pdf(mb: usize) -> Vec<u8> {
    let content = b"0 0 m\n".repeat(mb * 1024 * 1024 / 6);
    let mut objects = base_objects("/Contents 4 0 R");
    objects.push(stream_object("", &content));
    raw_pdf(&objects)
}

/// A one-page A4 PDF whose text carries `marker` (`(paper-mark MARKER) Tj`), so a test can tell which order a
/// printed document belongs to whatever job name it went under and whatever a print server's filters did
/// to the file ([`marks_in`]).
pub fn pdf_marked(marker: &str) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let text = format!("BT /F1 24 Tf 72 720 Td (paper-mark {marker}) Tj ET\n");
    let content_id = doc.add_object(Stream::new(dictionary! {}, text.into_bytes()));
    let page = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(A4.0 as f32), Object::Real(A4.1 as f32)],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("write the test PDF");
    out
}

/// The markers of [`pdf_marked`] found in a printed file's streams (decompressed), in the order found.
pub fn marks_in(pdf: &[u8]) -> Vec<String> {
    let Ok(doc) = Document::load_mem(pdf) else { return Vec::new() };
    let mut marks = Vec::new();
    for object in doc.objects.values() {
        if let Object::Stream(s) = object {
            let data = s.decompressed_content().unwrap_or_else(|_| s.content.clone());
            let text = String::from_utf8_lossy(&data);
            let mut rest = text.as_ref();
            while let Some(at) = rest.find("(paper-mark ") {
                rest = &rest[at + "(paper-mark ".len()..];
                if let Some(end) = rest.find(')') {
                    marks.push(rest[..end].to_owned());
                }
            }
        }
    }
    marks
}
