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
