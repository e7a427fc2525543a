//! The Windows print spooler's printers: `EnumPrintersW` level 2 (`PRINTER_INFO_2W`, local printers and
//! connections), and what each driver says it takes (`DeviceCapabilitiesW`: paper sizes, colour, duplex,
//! copies). They are printed to with SumatraPDF through the spooler (the command backend), as the guide's
//! Windows steps do by hand.
//!
//! As in `backends/spooler.rs`, everything but the calls is plain data that runs anywhere: the spooler's
//! buffer is decoded from its bytes ([`decode_printer_info_2`]), each string pointer checked to fall
//! inside the buffer, so the decoding is tested on recorded structures on any machine.

use super::{Found, Reach, Source};
use printcore::PrinterCapabilities;

/// One `PRINTER_INFO_2W`, the fields discovery uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpoolerEntry {
    /// `pServerName`: set for a connection to another computer's printer.
    pub server: String,
    /// `pPrinterName`: the name the print command is given.
    pub name: String,
    pub share: String,
    /// `pPortName` (`USB001`, `IP_192.168.1.50`, `PORTPROMPT:`).
    pub port: String,
    pub driver: String,
    pub comment: String,
    pub location: String,
    pub attributes: u32,
    pub status: u32,
}

/// The size of `PRINTER_INFO_2W`: 13 pointers, then 8 DWORDs.
pub const fn record_size(pointer_bytes: usize) -> usize {
    13 * pointer_bytes + 8 * 4
}

/// Decodes `count` `PRINTER_INFO_2W` at the start of `buf`, a buffer the spooler filled at address `base`
/// (its string pointers are addresses inside it), for a process whose pointers are `pointer_bytes` wide
/// (8 on x64 and arm64, 4 on x86). A pointer outside the buffer, or a string without its NUL, is an error.
pub fn decode_printer_info_2(
    buf: &[u8],
    base: u64,
    count: usize,
    pointer_bytes: usize,
) -> Result<Vec<SpoolerEntry>, String> {
    if pointer_bytes != 4 && pointer_bytes != 8 {
        return Err(format!("pointers of {pointer_bytes} bytes"));
    }
    let size = record_size(pointer_bytes);
    let need = count.checked_mul(size).ok_or("too many printers")?;
    if need > buf.len() {
        return Err(format!("{count} printers need {need} bytes; the spooler's buffer has {}", buf.len()));
    }
    let word = |at: usize| u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let pointer = |at: usize| -> u64 {
        if pointer_bytes == 8 {
            u64::from(word(at)) | (u64::from(word(at + 4)) << 32)
        } else {
            u64::from(word(at))
        }
    };
    let string = |p: u64| -> Result<String, String> {
        if p == 0 {
            return Ok(String::new());
        }
        let start = p.checked_sub(base).map(|o| o as usize).filter(|o| *o < buf.len() && o % 2 == 0);
        let Some(start) = start else {
            return Err(format!("a string pointer {p:#x} outside the spooler's buffer"));
        };
        let mut units = Vec::new();
        let mut at = start;
        loop {
            if at + 1 >= buf.len() {
                return Err("a string without its end in the spooler's buffer".into());
            }
            let u = u16::from_le_bytes([buf[at], buf[at + 1]]);
            if u == 0 {
                break;
            }
            units.push(u);
            at += 2;
        }
        Ok(String::from_utf16_lossy(&units))
    };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let r = i * size;
        let field = |n: usize| string(pointer(r + n * pointer_bytes));
        let words = r + 13 * pointer_bytes;
        out.push(SpoolerEntry {
            server: field(0)?,
            name: field(1)?,
            share: field(2)?,
            port: field(3)?,
            driver: field(4)?,
            comment: field(5)?,
            location: field(6)?,
            attributes: word(words),
            status: word(words + 5 * 4),
        });
    }
    Ok(out)
}

/// Printers that only make files or faxes (Microsoft Print to PDF, XPS Document Writer, Fax, OneNote):
/// by their port.
pub fn is_virtual(e: &SpoolerEntry) -> bool {
    let port = e.port.to_ascii_uppercase();
    matches!(port.as_str(), "PORTPROMPT:" | "SHRFAX:" | "NUL:" | "XPSPORT:" | "FILE:")
        || port.starts_with("ONENOTE")
        || e.driver.eq_ignore_ascii_case("Microsoft Print To PDF")
        || e.driver.eq_ignore_ascii_case("Microsoft XPS Document Writer v4")
}

/// The named sizes among a driver's `DC_PAPERSIZE` answer (width and height in tenths of a millimetre),
/// each once, in the driver's order.
pub fn paper_sizes(tenths_mm: &[(i32, i32)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (w, h) in tenths_mm {
        if *w <= 0 || *h <= 0 {
            continue;
        }
        if let Some(n) = printcore::files::pdf::nearest_named(f64::from(*w) / 10.0, f64::from(*h) / 10.0) {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

/// Capabilities from the driver's answers: `DC_PAPERSIZE`, `DC_COLORDEVICE` (1: colour), `DC_DUPLEX` (1:
/// two-sided), `DC_COPIES` (the most copies; -1 or 0 when it does not say). `None` when the driver named no
/// paper size the worker knows.
pub fn capabilities_from(papers: &[(i32, i32)], color: i32, duplex: i32, copies: i32) -> Option<PrinterCapabilities> {
    let page_sizes = paper_sizes(papers);
    if page_sizes.is_empty() {
        return None;
    }
    Some(PrinterCapabilities {
        page_sizes,
        color: color == 1,
        duplex: duplex == 1,
        max_copies: if copies > 0 { i64::from(copies) } else { 1 },
    })
}

/// The printers found, without the virtual ones.
pub fn to_found(entries: Vec<(SpoolerEntry, Option<PrinterCapabilities>)>) -> Vec<Found> {
    entries
        .into_iter()
        .filter(|(e, _)| !e.name.is_empty() && !is_virtual(e))
        .map(|(e, capabilities)| {
            let via = if e.server.is_empty() { String::new() } else { format!(" (shared by {})", e.server) };
            Found {
                source: Source::Spooler,
                name: if e.comment.trim().is_empty() { e.name.clone() } else { e.comment.clone() },
                reach: Reach::Spooler { printer_name: e.name.clone(), capabilities },
                make_model: (!e.driver.is_empty()).then(|| e.driver.clone()),
                location: (!e.location.is_empty()).then(|| e.location.clone()),
                detail: format!("Windows printer on port {}{via}", e.port),
            }
        })
        .collect()
}

/// The spooler's printers (Windows only).
pub fn spooler_printers() -> Result<Vec<Found>, String> {
    #[cfg(windows)]
    {
        win::printers().map(to_found)
    }
    #[cfg(not(windows))]
    {
        Err("there is no Windows print spooler on this system".into())
    }
}

#[cfg(windows)]
mod win {
    use super::{capabilities_from, decode_printer_info_2, SpoolerEntry};
    use printcore::PrinterCapabilities;
    use windows_sys::Win32::Foundation::{GetLastError, ERROR_INSUFFICIENT_BUFFER};
    use windows_sys::Win32::Graphics::Printing::{
        EnumPrintersW, PRINTER_ENUM_CONNECTIONS, PRINTER_ENUM_LOCAL, PRINTER_INFO_2W,
    };
    use windows_sys::Win32::Storage::Xps::{DeviceCapabilitiesW, DC_COLORDEVICE, DC_COPIES, DC_DUPLEX, DC_PAPERSIZE};

    // The portable decoder's layout is Windows' own.
    const _: () = assert!(std::mem::size_of::<PRINTER_INFO_2W>() == super::record_size(std::mem::size_of::<usize>()));

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    pub fn printers() -> Result<Vec<(SpoolerEntry, Option<PrinterCapabilities>)>, String> {
        let flags = PRINTER_ENUM_LOCAL | PRINTER_ENUM_CONNECTIONS;
        let mut buf: Vec<u64> = Vec::new();
        let mut size = 0u32;
        let mut count = 0u32;
        for _ in 0..8 {
            let mut needed = 0u32;
            let ptr = if size == 0 { std::ptr::null_mut() } else { buf.as_mut_ptr() as *mut u8 };
            // SAFETY: `ptr` is null with size 0, or a buffer of `size` bytes.
            if unsafe { EnumPrintersW(flags, std::ptr::null(), 2, ptr, size, &mut needed, &mut count) } != 0 {
                break;
            }
            // SAFETY: reads the calling thread's last error.
            let code = unsafe { GetLastError() };
            if code != ERROR_INSUFFICIENT_BUFFER || needed <= size {
                return Err(format!("EnumPrinters failed: {}", std::io::Error::from_raw_os_error(code as i32)));
            }
            buf = vec![0u64; (needed as usize).div_ceil(8)];
            size = needed;
        }
        if size == 0 || count == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: the buffer holds `size` initialised bytes (zeroed, then written by the spooler).
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, size as usize) };
        let entries = decode_printer_info_2(bytes, buf.as_ptr() as u64, count as usize, std::mem::size_of::<usize>())?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let caps = capabilities(&e);
                (e, caps)
            })
            .collect())
    }

    /// What the driver says the printer takes.
    fn capabilities(e: &SpoolerEntry) -> Option<PrinterCapabilities> {
        let (name, port) = (wide(&e.name), wide(&e.port));
        // SAFETY: NUL-terminated strings; a null output asks for the count or the value.
        let ask = |cap| unsafe {
            DeviceCapabilitiesW(name.as_ptr(), port.as_ptr(), cap, std::ptr::null_mut(), std::ptr::null())
        };
        let n = ask(DC_PAPERSIZE);
        let mut points: Vec<[i32; 2]> = vec![[0, 0]; n.clamp(0, 1024) as usize];
        if n > 0 && n <= 1024 {
            // SAFETY: room for `n` POINTs, as the first call said.
            let got = unsafe {
                DeviceCapabilitiesW(
                    name.as_ptr(),
                    port.as_ptr(),
                    DC_PAPERSIZE,
                    points.as_mut_ptr() as *mut u16,
                    std::ptr::null(),
                )
            };
            points.truncate(got.max(0) as usize);
        }
        let papers: Vec<(i32, i32)> = points.iter().map(|p| (p[0], p[1])).collect();
        capabilities_from(&papers, ask(DC_COLORDEVICE), ask(DC_DUPLEX), ask(DC_COPIES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer as `EnumPrintersW(PRINTER_ENUM_LOCAL | PRINTER_ENUM_CONNECTIONS, NULL, 2, ...)` leaves it
    /// on x64 (and, with `pointer_bytes` 4, on x86): the records first, their strings packed at the end of
    /// the buffer backwards, every pointer an address inside it; `pDevMode` and `pSecurityDescriptor`
    /// point into it too (not decoded). Built to the documented layout (winspool.h; on Windows the layout
    /// is checked against `windows-sys` at compile time), not captured from a PC: a USB laser, a printer
    /// another PC shares, and Microsoft Print to PDF.
    fn spooler_buffer(base: u64, pointer_bytes: usize, printers: &[[&str; 7]], words: &[[u32; 8]]) -> Vec<u8> {
        let size = record_size(pointer_bytes);
        let mut buf = vec![0u8; 4096];
        let mut end = buf.len();
        let mut put_str = |buf: &mut Vec<u8>, s: &str| -> u64 {
            let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
            end -= units.len() * 2;
            for (i, u) in units.iter().enumerate() {
                buf[end + 2 * i..end + 2 * i + 2].copy_from_slice(&u.to_le_bytes());
            }
            base + end as u64
        };
        for (i, p) in printers.iter().enumerate() {
            let r = i * size;
            for (n, s) in p.iter().enumerate() {
                let ptr = if s.is_empty() && n == 0 { 0 } else { put_str(&mut buf, s) };
                let at = r + n * pointer_bytes;
                buf[at..at + pointer_bytes].copy_from_slice(&ptr.to_le_bytes()[..pointer_bytes]);
            }
            // pDevMode .. pSecurityDescriptor: somewhere in the buffer (not read).
            for n in 7..13 {
                let at = r + n * pointer_bytes;
                buf[at..at + pointer_bytes].copy_from_slice(&(base + 8).to_le_bytes()[..pointer_bytes]);
            }
            for (k, w) in words[i].iter().enumerate() {
                let at = r + 13 * pointer_bytes + 4 * k;
                buf[at..at + 4].copy_from_slice(&w.to_le_bytes());
            }
        }
        buf
    }

    const PRINTERS: [[&str; 7]; 3] = [
        ["", "HP LaserJet M404", "", "USB001", "HP LaserJet M404-M405 PCL-6 (V4)", "Counter laser", "shop floor"],
        [
            "\\\\OFFICE-PC",
            "\\\\OFFICE-PC\\Brother HL-L2350DW",
            "Brother",
            "IP_192.168.1.60",
            "Brother HL-L2350D series",
            "",
            "",
        ],
        ["", "Microsoft Print to PDF", "", "PORTPROMPT:", "Microsoft Print To PDF", "", ""],
    ];
    // Attributes (KEEPPRINTEDJOBS | LOCAL | ...), priority, default priority, start, until, Status, cJobs, PPM.
    const WORDS: [[u32; 8]; 3] =
        [[0x0000_0940, 1, 0, 0, 0, 0, 0, 0], [0x0000_0a14, 1, 0, 0, 0, 0x80, 2, 0], [0x0000_0240, 1, 0, 0, 0, 0, 0, 0]];

    #[test]
    fn enum_printers_level_2_is_decoded_from_the_spoolers_bytes() {
        for (base, width) in [(0x0000_01d3_4a5e_0000u64, 8usize), (0x0054_0000u64, 4usize)] {
            let buf = spooler_buffer(base, width, &PRINTERS, &WORDS);
            let entries = decode_printer_info_2(&buf, base, 3, width).unwrap();
            assert_eq!(entries.len(), 3);
            assert_eq!(entries[0].name, "HP LaserJet M404");
            assert_eq!(entries[0].server, "");
            assert_eq!(entries[0].port, "USB001");
            assert_eq!(entries[0].comment, "Counter laser");
            assert_eq!(entries[0].location, "shop floor");
            assert_eq!(entries[0].attributes, 0x940);
            assert_eq!(entries[1].server, "\\\\OFFICE-PC");
            assert_eq!(entries[1].name, "\\\\OFFICE-PC\\Brother HL-L2350DW");
            assert_eq!(entries[1].status, 0x80, "Status is the sixth DWORD");
            let found = to_found(entries.into_iter().map(|e| (e, None)).collect());
            // Print to PDF makes files, not paper.
            assert_eq!(found.len(), 2);
            assert_eq!(found[0].name, "Counter laser");
            assert_eq!(found[0].reach, Reach::Spooler { printer_name: "HP LaserJet M404".into(), capabilities: None });
            assert!(found[1].detail.contains("shared by \\\\OFFICE-PC"), "{}", found[1].detail);
        }
    }

    #[test]
    fn a_broken_buffer_is_an_error_never_a_read_outside_it() {
        let base = 0x10_0000u64;
        let buf = spooler_buffer(base, 8, &PRINTERS, &WORDS);
        assert!(decode_printer_info_2(&buf[..100], base, 1, 8).unwrap_err().contains("need"));
        assert!(decode_printer_info_2(&buf, base, usize::MAX, 8).is_err());
        // Another base: every pointer falls outside.
        assert!(decode_printer_info_2(&buf, base + 0x10_0000, 1, 8).unwrap_err().contains("outside"));
        // A string running to the end of the buffer without its NUL.
        let mut cut = buf.clone();
        let n = cut.len();
        cut[n - 2..].copy_from_slice(&[0x41, 0]);
        // The first string written (at the end) is the first printer's name: its NUL is gone.
        assert!(decode_printer_info_2(&cut, base, 1, 8).unwrap_err().contains("without its end"));
        assert!(decode_printer_info_2(&buf, base, 1, 3).is_err());
    }

    #[test]
    fn driver_paper_sizes_in_tenths_of_a_millimetre_become_named_sizes() {
        // DC_PAPERSIZE of an A4 laser: Letter, Legal, A4, A5, Executive, an envelope.
        let papers = [(2159, 2794), (2159, 3556), (2100, 2970), (1480, 2100), (1842, 2667), (1100, 2200), (2100, 2970)];
        let caps = capabilities_from(&papers, 0, 1, 999).unwrap();
        assert_eq!(caps.page_sizes[..4], ["Letter", "Legal", "A4", "A5"].map(String::from));
        assert!(!caps.color && caps.duplex);
        assert_eq!(caps.max_copies, 999);
        assert_eq!(capabilities_from(&papers, 1, 0, -1).unwrap().max_copies, 1);
        assert!(capabilities_from(&[(0, 0), (-1, 5)], 1, 1, 1).is_none());
    }
}
