//! Binary size: the file's length in bytes, with its linkage read from the
//! ELF program headers ([`linkage`]). Target: hookinit below 400,000 bytes.

use std::fs;
use std::path::Path;

use crate::inits::Init;
use crate::report::{thousands, Check, Row};

/// "static", "static-pie" or "dynamic", from the ELF program headers.
pub(crate) fn linkage(path: &Path) -> &'static str {
    let Ok(data) = fs::read(path) else {
        return "?";
    };
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return "?";
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    let mut dynamic = false;
    for i in 0..count {
        let o = phoff + i * size;
        let Some(t) = data.get(o..o + 4) else {
            return "?";
        };
        match u32::from_le_bytes(t.try_into().unwrap()) {
            3 => return "dynamic", // PT_INTERP
            2 => dynamic = true,   // PT_DYNAMIC without an interpreter
            _ => {}
        }
    }
    if dynamic {
        "static-pie"
    } else {
        "static"
    }
}

/// The row of the binaries' sizes.
pub(crate) fn run_size(inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let mut row = Row::new("Binary size (bytes)", "binary size", n);
    for (i, init) in inits.iter().enumerate() {
        match init
            .as_ref()
            .and_then(|x| Some((x, fs::metadata(&x.path).ok()?.len())))
        {
            Some((init, len)) => {
                row.values[i] = Some(len as f64);
                row.cells[i] = format!("{} ({})", thousands(len), linkage(&init.path));
            }
            None => row.cells[i] = "not installed".into(),
        }
    }
    row.target = "< 400,000".into();
    row.check = Check::Below(400_000.0);
    rows.push(row);
}
