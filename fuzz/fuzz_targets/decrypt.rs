//! Any text through pages-core's decryption: an error or a value, never a
//! panic; and what we encrypt always decrypts back.
#![no_main]

use build_task::crypto::{Key, decrypt, encrypt};
use build_task::secret::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let key = Key::from_secret(&Secret::new("fuzz"));
    let _ = decrypt(&key, text);
    let round = encrypt(&key, [9; 16], text);
    assert_eq!(decrypt(&key, &round).map(|s| s.expose().to_owned()), Ok(text.to_owned()));
});
