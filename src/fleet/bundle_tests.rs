use std::path::PathBuf;

use super::*;

fn bloom_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/bloom")
}

fn key() -> SigningKey {
    SigningKey::generate().unwrap().0
}

/// Re-signs `bytes` (whose last 64 bytes are a signature) with `key` after `edit` changed the
/// header: what a holder of a trusted key could build by hand.
fn with_header(bytes: &[u8], key: &SigningKey, edit: impl FnOnce(&mut Header)) -> Vec<u8> {
    let mut header = read_header(bytes).unwrap();
    let old_len = header_len(bytes).unwrap();
    edit(&mut header);
    let head = serde_json::to_vec(&header).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&bytes[PREFIX + old_len..bytes.len() - SIGNATURE_LEN]);
    let sig = key.sign(&out);
    out.extend_from_slice(&sig);
    out
}

#[test]
fn a_packed_folder_opens_to_the_same_files_with_its_signer() {
    let k = key();
    let bytes = pack(&bloom_dir(), &k, 7).unwrap();
    let b = open(&bytes, &[key().public(), k.public()]).unwrap();
    assert_eq!(b.header.model, "bloom");
    assert_eq!(b.header.version, 7);
    assert_eq!(b.signer, k.public());
    let names: Vec<&str> = b.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.json", "model.onnx", "golden.csv"]);
    for (name, body) in &b.files {
        assert_eq!(
            body,
            &std::fs::read(bloom_dir().join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn any_changed_byte_breaks_the_signature() {
    let k = key();
    let bytes = pack(&bloom_dir(), &k, 7).unwrap();
    let head_end = PREFIX + header_len(&bytes).unwrap();
    // One byte in each file body, one in the signature.
    for at in [
        head_end,
        head_end + 1000,
        bytes.len() - 100,
        bytes.len() - 1,
    ] {
        let mut t = bytes.clone();
        t[at] ^= 0x01;
        let err = open(&t, &[k.public()]).unwrap_err();
        assert_eq!(err.kind(), "bad_signature", "byte {at}: {err}");
    }
    // The version in the header, raised without re-signing.
    let mut t = bytes.clone();
    let at = t.windows(11).position(|w| w == b"\"version\":7").unwrap();
    t[at + 10] = b'9';
    assert_eq!(open(&t, &[k.public()]).unwrap_err().kind(), "bad_signature");
}

#[test]
fn a_bundle_signed_by_another_key_or_with_no_keys_configured_is_refused() {
    let bytes = pack(&bloom_dir(), &key(), 1).unwrap();
    let err = open(&bytes, &[key().public()]).unwrap_err();
    assert_eq!(err.kind(), "untrusted_key", "{err}");
    assert!(err.to_string().contains("ed25519:"), "{err}");
    assert_eq!(open(&bytes, &[]).unwrap_err(), FleetError::NoTrustedKeys);
}

#[test]
fn a_cut_bundle_is_reported_as_truncated_at_every_length() {
    let k = key();
    let bytes = pack(&bloom_dir(), &k, 1).unwrap();
    let head_end = PREFIX + header_len(&bytes).unwrap();
    for cut in [
        8,
        10,
        12,
        40,
        head_end,
        head_end + 1,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let err = open(&bytes[..cut], &[k.public()]).unwrap_err();
        assert_eq!(err.kind(), "truncated", "cut at {cut}: {err}");
    }
    for cut in [0, 3, 7] {
        let err = open(&bytes[..cut], &[k.public()]).unwrap_err();
        assert_eq!(err.kind(), "bad_magic", "cut at {cut}: {err}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(open(&long, &[k.public()]).unwrap_err().kind(), "length");
}

#[test]
fn a_validly_signed_bundle_with_a_path_in_a_file_name_or_a_wrong_digest_is_refused() {
    let k = key();
    let bytes = pack(&bloom_dir(), &k, 1).unwrap();
    let evil = with_header(&bytes, &k, |h| {
        h.files[2].name = "../../etc/cron.d/x".into()
    });
    assert_eq!(open(&evil, &[k.public()]).unwrap_err().kind(), "header");
    let hidden = with_header(&bytes, &k, |h| h.files[2].name = ".golden.csv".into());
    assert_eq!(open(&hidden, &[k.public()]).unwrap_err().kind(), "header");
    let digest = with_header(&bytes, &k, |h| h.files[1].sha256 = "00".repeat(32));
    let err = open(&digest, &[k.public()]).unwrap_err();
    assert_eq!(
        err,
        FleetError::Digest {
            file: "model.onnx".into()
        }
    );
    let huge = with_header(&bytes, &k, |h| h.files[0].size = u64::MAX - 10);
    assert_eq!(open(&huge, &[k.public()]).unwrap_err().kind(), "length");
    // The untouched re-signing helper does produce an acceptable bundle.
    let same = with_header(&bytes, &k, |_| {});
    assert!(open(&same, &[k.public()]).is_ok());
}
