//! pages-core's ciphertexts, and nothing else.
//!
//! pages-core (`api/services/Encryptor.js`) encrypts each value with
//! AES-256-GCM under `sha256(key)`, a random 16-byte IV (not the usual 12), a
//! 16-byte tag and no AAD, and writes `hex(tag):hex(iv):hex(ciphertext)`.

use aes_gcm::AesGcm;
use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aes::Aes256;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::secret::Secret;

/// AES-256-GCM with pages-core's 16-byte nonce.
type Cipher = AesGcm<Aes256, U16>;

/// The decryption key: SHA-256 of the key string from the encryption service.
#[derive(Clone)]
pub struct Key(Cipher);

impl Key {
    pub fn from_secret(secret: &Secret) -> Key {
        let digest = Sha256::digest(secret.expose().as_bytes());
        // SHA-256 gives 32 bytes, the AES-256 key size.
        Key(Cipher::new(&digest))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a value did not decrypt. None of these says anything about the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// Not three `:`-separated fields.
    Shape,
    /// A field is not lowercase or uppercase hex of whole bytes.
    Hex,
    /// The tag is not 16 bytes.
    TagLength,
    /// The IV is not 16 bytes.
    IvLength,
    /// The tag did not verify: the wrong key, or a changed value.
    Tag,
    /// The plain text is not UTF-8.
    Utf8,
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecryptError::Shape => "not of the form tag:iv:ciphertext",
            DecryptError::Hex => "not hexadecimal",
            DecryptError::TagLength => "the tag is not 16 bytes",
            DecryptError::IvLength => "the IV is not 16 bytes",
            DecryptError::Tag => "the tag does not verify (wrong key or altered value)",
            DecryptError::Utf8 => "the plain text is not UTF-8",
        })
    }
}

/// Decrypts one `tag:iv:ciphertext` value.
pub fn decrypt(key: &Key, text: &str) -> Result<Secret, DecryptError> {
    let mut fields = text.trim().split(':');
    let (Some(tag), Some(iv), Some(ct), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
        return Err(DecryptError::Shape);
    };
    let tag = hex(tag)?;
    let iv = hex(iv)?;
    let mut buf = hex(ct)?;
    let tag: Array<u8, U16> = Array::try_from(tag.as_slice()).map_err(|_| DecryptError::TagLength)?;
    let iv: Array<u8, U16> = Array::try_from(iv.as_slice()).map_err(|_| DecryptError::IvLength)?;
    key.0.decrypt_inout_detached(&iv, b"", buf.as_mut_slice().into(), &tag).map_err(|_| DecryptError::Tag)?;
    String::from_utf8(buf).map(Secret::new).map_err(|_| DecryptError::Utf8)
}

/// Encrypts like pages-core does, with the IV given. A test seam: only in
/// test builds (the `testing` feature).
#[cfg(any(test, feature = "testing"))]
pub fn encrypt(key: &Key, iv: [u8; 16], plain: &str) -> String {
    let mut buf = plain.as_bytes().to_vec();
    let iv = Array::from(iv);
    let tag = key
        .0
        .encrypt_inout_detached(&iv, b"", buf.as_mut_slice().into())
        .expect("AES-GCM encrypts any message shorter than 64 GiB");
    format!("{}:{}:{}", to_hex(&tag), to_hex(&iv), to_hex(&buf))
}

fn hex(text: &str) -> Result<Vec<u8>, DecryptError> {
    if !text.len().is_multiple_of(2) {
        return Err(DecryptError::Hex);
    }
    text.as_bytes().chunks(2).map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

fn nibble(c: u8) -> Result<u8, DecryptError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(DecryptError::Hex),
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector from pages-cf-build-tasks test/common/test_utils.py.
    const VECTOR: &str = "6a7495108a7f8c9ab4d0990854240242:e05f0d25446be83fa92aa9586610496b:560d3e8ff02f852104417a";

    fn key(s: &str) -> Key {
        Key::from_secret(&Secret::new(s))
    }

    #[test]
    fn the_pages_test_vector_decrypts_to_hello_world() {
        assert_eq!(decrypt(&key("shhhhhhh"), VECTOR).unwrap().expose(), "hello world");
    }

    #[test]
    fn encrypt_gives_back_the_test_vector() {
        let iv = [0xe0, 0x5f, 0x0d, 0x25, 0x44, 0x6b, 0xe8, 0x3f, 0xa9, 0x2a, 0xa9, 0x58, 0x66, 0x10, 0x49, 0x6b];
        assert_eq!(encrypt(&key("shhhhhhh"), iv, "hello world"), VECTOR);
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        assert_eq!(decrypt(&key("shhhhhhh"), &VECTOR.to_uppercase()).unwrap().expose(), "hello world");
    }

    #[test]
    fn the_wrong_key_fails_the_tag() {
        assert_eq!(decrypt(&key("shhhhhhhh"), VECTOR).unwrap_err(), DecryptError::Tag);
    }

    #[test]
    fn a_tampered_ciphertext_fails_the_tag() {
        let tampered = VECTOR.replace(":560d", ":560e");
        assert_eq!(decrypt(&key("shhhhhhh"), &tampered).unwrap_err(), DecryptError::Tag);
    }

    #[test]
    fn malformed_values_name_their_fault() {
        let k = key("shhhhhhh");
        assert_eq!(decrypt(&k, "plain text").unwrap_err(), DecryptError::Shape);
        assert_eq!(decrypt(&k, "a:b:c:d").unwrap_err(), DecryptError::Shape);
        assert_eq!(decrypt(&k, "zz:00:00").unwrap_err(), DecryptError::Hex);
        assert_eq!(decrypt(&k, "abc:00:00").unwrap_err(), DecryptError::Hex);
        assert_eq!(decrypt(&k, "00:00:00").unwrap_err(), DecryptError::TagLength);
        let short_iv = "6a7495108a7f8c9ab4d0990854240242:e05f0d25446be83fa92aa958:560d3e8ff02f852104417a";
        assert_eq!(decrypt(&k, short_iv).unwrap_err(), DecryptError::IvLength);
    }

    #[test]
    fn the_key_is_redacted_in_debug() {
        assert_eq!(format!("{:?}", key("shhhhhhh")), "[redacted]");
    }
}
