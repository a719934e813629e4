use super::zip::{Member, ZIP32_LIMIT, zip};
use super::*;

#[test]
fn npy_header_is_padded_to_64_bytes_and_names_the_shape() {
    let a = Array::matrix(2, 3, |i, j| (i * 3 + j) as f64).npy();
    let len = u16::from_le_bytes([a[8], a[9]]) as usize;
    assert_eq!((10 + len) % 64, 0);
    let header = std::str::from_utf8(&a[10..10 + len]).unwrap();
    assert!(header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"));
    assert!(header.ends_with('\n'));
    assert_eq!(a.len(), 10 + len + 6 * 8);
    assert_eq!(a[10 + len + 8..10 + len + 16], 1.0f64.to_le_bytes());
}

#[test]
fn strings_are_fixed_width_utf32() {
    let a = Array::strings(vec!["ab".into(), "é".into()]).npy();
    let len = u16::from_le_bytes([a[8], a[9]]) as usize;
    assert!(
        std::str::from_utf8(&a[10..10 + len])
            .unwrap()
            .contains("'<U2'")
    );
    let data = &a[10 + len..];
    assert_eq!(data.len(), 2 * 2 * 4);
    assert_eq!(
        u32::from_le_bytes(data[8..12].try_into().unwrap()),
        'é' as u32
    );
    assert_eq!(u32::from_le_bytes(data[12..16].try_into().unwrap()), 0);
}

#[test]
fn zip_directory_points_at_each_entry() {
    let arrays = vec![
        ("mean_".to_string(), Array::vector(vec![1.0, 2.0])),
        ("whiten".to_string(), Array::flag(true)),
    ];
    let zip = write(&arrays);
    let end = zip.len() - 22;
    assert_eq!(zip[end..end + 4], 0x0605_4b50u32.to_le_bytes());
    let entries = u16::from_le_bytes([zip[end + 10], zip[end + 11]]);
    assert_eq!(entries, 2);
    let cd = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) as usize;
    assert_eq!(zip[cd..cd + 4], 0x0201_4b50u32.to_le_bytes());
    // the second entry's local header is where the directory says
    let name_len = u16::from_le_bytes([zip[cd + 28], zip[cd + 29]]) as usize;
    let second = cd + 46 + name_len;
    let offset = u32::from_le_bytes(zip[second + 42..second + 46].try_into().unwrap());
    assert_eq!(
        zip[offset as usize..offset as usize + 4],
        0x0403_4b50u32.to_le_bytes()
    );
    assert_eq!(
        &zip[offset as usize + 30..offset as usize + 40],
        b"whiten.npy"
    );
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A 5 GiB member (its bytes left out: offsets count them all the same) and a small one
/// after it: the headers must carry the sizes and the second member's offset in ZIP64
/// fields, and the directory must end with the ZIP64 records (APPNOTE 4.3.14–4.5.3).
#[test]
fn a_member_over_4_gib_gets_zip64_sizes_offsets_and_end_records() {
    let big = 5u64 << 30;
    let members = vec![
        Member {
            name: "X_fit_.npy".into(),
            size: big,
            crc: 0x1234_5678,
            data: vec![7; 16],
        },
        Member {
            name: "mean_.npy".into(),
            size: 10,
            crc: 1,
            data: vec![1; 10],
        },
    ];
    let mut zip_bytes = Vec::new();
    zip(members.into_iter(), &mut zip_bytes, ZIP32_LIMIT);
    let b = &zip_bytes;
    // the first local header: version 4.5, both sizes in its ZIP64 field
    assert_eq!(u32_at(b, 0), 0x0403_4b50);
    assert_eq!(u16_at(b, 4), 45);
    assert_eq!((u32_at(b, 18), u32_at(b, 22)), (u32::MAX, u32::MAX));
    let (name_len, extra_len) = (u16_at(b, 26) as usize, u16_at(b, 28) as usize);
    assert_eq!(extra_len, 20);
    let extra = 30 + name_len;
    assert_eq!((u16_at(b, extra), u16_at(b, extra + 2)), (1, 16));
    assert_eq!((u64_at(b, extra + 4), u64_at(b, extra + 12)), (big, big));
    // the second member starts 5 GiB after the first's data starts (16 bytes given)
    let data = extra + extra_len;
    let second_real = data + 16;
    let second_virtual = (data as u64) + big;
    assert_eq!(u32_at(b, second_real), 0x0403_4b50);
    // past 4 GiB: version 4.5, but its sizes fit, so its local header has no ZIP64 field
    assert_eq!(u16_at(b, second_real + 4), 45);
    assert_eq!(u32_at(b, second_real + 18), 10);
    assert_eq!(u16_at(b, second_real + 28), 0);
    let shift = big - 16; // virtual offset − real offset after the first member
    // the classic end record points to the ZIP64 one through the locator
    let end = b.len() - 22;
    assert_eq!(u32_at(b, end), 0x0605_4b50);
    assert_eq!(u32_at(b, end + 16), u32::MAX, "directory offset overflows");
    let locator = end - 20;
    assert_eq!(u32_at(b, locator), 0x0706_4b50);
    assert_eq!(u32_at(b, locator + 16), 1, "one disk");
    let record = (u64_at(b, locator + 8) - shift) as usize;
    assert_eq!(record, locator - 56);
    assert_eq!(u32_at(b, record), 0x0606_4b50);
    assert_eq!(u64_at(b, record + 4), 44);
    assert_eq!((u64_at(b, record + 24), u64_at(b, record + 32)), (2, 2));
    let directory = (u64_at(b, record + 48) - shift) as usize;
    assert_eq!(u64_at(b, record + 40), (record - directory) as u64);
    // the first central header: sizes in ZIP64, its offset (0) classic
    assert_eq!(u32_at(b, directory), 0x0201_4b50);
    assert_eq!(
        (u32_at(b, directory + 20), u32_at(b, directory + 24)),
        (u32::MAX, u32::MAX)
    );
    assert_eq!(u32_at(b, directory + 42), 0);
    let (n1, e1) = (
        u16_at(b, directory + 28) as usize,
        u16_at(b, directory + 30) as usize,
    );
    assert_eq!(e1, 20);
    let x1 = directory + 46 + n1;
    assert_eq!((u16_at(b, x1), u16_at(b, x1 + 2)), (1, 16));
    assert_eq!((u64_at(b, x1 + 4), u64_at(b, x1 + 12)), (big, big));
    // the second: sizes classic, its offset past 4 GiB in ZIP64
    let second = x1 + e1;
    assert_eq!(u32_at(b, second), 0x0201_4b50);
    assert_eq!((u32_at(b, second + 20), u32_at(b, second + 24)), (10, 10));
    assert_eq!(u32_at(b, second + 42), u32::MAX);
    let x2 = second + 46 + u16_at(b, second + 28) as usize;
    assert_eq!((u16_at(b, x2), u16_at(b, x2 + 2)), (1, 8));
    assert_eq!(u64_at(b, x2 + 4), second_virtual);
}

/// tests/onnx/zip64.npz: small arrays written with every ZIP64 field (`limit` 0), which
/// tests/onnx/check.py loads with numpy (run by .ci/run). `DIMRED_BLESS=1` rewrites it.
#[test]
fn the_zip64_fixture_is_what_the_writer_writes() {
    let arrays = [
        ("mean_", Array::vector(vec![1.5, -2.0, 3.25])),
        (
            "components_",
            Array::matrix(2, 3, |i, j| (i * 3 + j) as f64),
        ),
        (
            "feature_names_in_",
            Array::strings(vec!["a".into(), "bé".into()]),
        ),
    ];
    let mut bytes = Vec::new();
    zip(arrays.iter().map(|(n, a)| Member::npy(n, a)), &mut bytes, 0);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/zip64.npz");
    if std::env::var_os("DIMRED_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "DIMRED_BLESS=1 rewrites it"
    );
    // and without ZIP64 the same arrays make the classic file
    let classic: Vec<(String, Array)> = arrays
        .iter()
        .map(|(n, a)| (n.to_string(), a.clone()))
        .collect();
    let classic = write(&classic);
    assert!(classic.len() < bytes.len());
    let zip64_end = 0x0606_4b50u32.to_le_bytes();
    assert!(!classic.windows(4).any(|w| w == zip64_end));
    assert!(bytes.windows(4).any(|w| w == zip64_end));
}

#[test]
fn read_gives_back_what_write_wrote_bit_for_bit() {
    let arrays = vec![
        (
            "m".to_string(),
            Array::matrix(3, 2, |i, j| (i as f64 - 1.5) / (j as f64 + 3.0)),
        ),
        (
            "odd".to_string(),
            Array::vector(vec![f64::NAN, -0.0, f64::MIN_POSITIVE / 3.0, f64::INFINITY]),
        ),
        ("n".to_string(), Array::int(-7)),
        ("flag".to_string(), Array::flag(true)),
        (
            "names".to_string(),
            Array::strings(vec!["ab".into(), "é{}'".into(), String::new()]),
        ),
        ("scalar".to_string(), Array::scalar(0.1)),
    ];
    let back = read(&write(&arrays)).unwrap();
    assert_eq!(back.len(), arrays.len());
    for ((name, a), (name2, b)) in arrays.iter().zip(&back) {
        assert_eq!(name, name2);
        assert_eq!(a.shape, b.shape, "{name}");
        match (&a.values, &b.values) {
            (Values::F64(x), Values::F64(y)) => {
                let bits = |v: &Vec<f64>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(x), bits(y), "{name}");
            }
            (x, y) => assert_eq!(x, y, "{name}"),
        }
    }
}

#[test]
fn read_takes_an_entry_size_from_its_zip64_extra_field() {
    // the local header of an entry over 4 GiB, as ZIP64 writes it: sizes 0xFFFFFFFF,
    // the real ones in extra field 1 (uncompressed, then compressed)
    let zip = write(&[("big".to_string(), Array::vector(vec![0.5, -2.0]))]);
    let name_len = u16::from_le_bytes([zip[26], zip[27]]) as usize;
    let size = u32::from_le_bytes(zip[22..26].try_into().unwrap()) as u64;
    let mut z64 = zip[..30].to_vec();
    z64[18..26].copy_from_slice(&[0xff; 8]);
    z64[28..30].copy_from_slice(&20u16.to_le_bytes());
    z64.extend_from_slice(&zip[30..30 + name_len]);
    z64.extend_from_slice(&1u16.to_le_bytes());
    z64.extend_from_slice(&16u16.to_le_bytes());
    z64.extend_from_slice(&size.to_le_bytes());
    z64.extend_from_slice(&size.to_le_bytes());
    z64.extend_from_slice(&zip[30 + name_len..]);
    let back = read(&z64).unwrap();
    assert_eq!(back[0].0, "big");
    assert_eq!(back[0].1.values, Values::F64(vec![0.5, -2.0]));
}

#[test]
fn read_refuses_damaged_and_truncated_archives() {
    let zip = write(&[("a".to_string(), Array::vector(vec![1.0, 2.0, 3.0]))]);
    let mut flipped = zip.clone();
    let last_value = 30 + "a.npy".len() + 128 + 16;
    flipped[last_value] ^= 1;
    assert!(read(&flipped).unwrap_err().contains("CRC"));
    assert!(
        read(&zip[..zip.len() / 2])
            .unwrap_err()
            .contains("truncated")
    );
    assert!(
        read(b"{\"format\": 1}")
            .unwrap_err()
            .contains("not an .npz")
    );
    assert!(read(&[]).is_err());
}
