//! Each rule on crafted images: a clean scratch-shaped tree passes every
//! rule; each planted violation is caught by its rule, at its path. The
//! binary's exit status and output are checked at the end.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use build_task_audit::{DEFAULT_POLICY, Policy, Report, audit_image, secret_in};

/// An image directory (rootfs/ + metadata.json) removed when dropped.
struct Image(PathBuf);

impl Image {
    /// The scratch layout of hardening/scratch-rootfs.sh, with a stand-in
    /// binary.
    fn scratch() -> Image {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "audit-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        let image = Image(dir);
        for d in ["usr/local/bin", "bin", "etc", "root", "tmp"] {
            fs::create_dir_all(image.root().join(d)).unwrap();
        }
        image.write("/usr/local/bin/build-task", b"\x7fELF stand-in", 0o755);
        symlink("/usr/local/bin/build-task", image.root().join("bin/sh")).unwrap();
        image.write("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644);
        image.write("/etc/group", b"root:x:0:\n", 0o644);
        image.chmod("/root", 0o700);
        image.chmod("/tmp", 0o1777);
        image.metadata(r#"{"env":["PATH=/usr/local/bin:/bin","BUILD_TASK=example"],"user":""}"#);
        image
    }

    fn root(&self) -> PathBuf {
        self.0.join("rootfs")
    }

    fn at(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    fn write(&self, path: &str, bytes: &[u8], mode: u32) {
        let p = self.at(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
        self.chmod(path, mode);
    }

    fn chmod(&self, path: &str, mode: u32) {
        fs::set_permissions(self.at(path), fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Installs `package` (`name`, or `name:arch` as dpkg names a Multi-Arch:
    /// same package's files) in the image's dpkg database: a status stanza
    /// in `state` ("install ok installed") and its md5sums file.
    fn install(&self, package: &str, state: &str, md5sums: &str) {
        let (name, arch) = package.split_once(':').unwrap_or((package, "all"));
        let mut status = fs::read_to_string(self.at("/var/lib/dpkg/status")).unwrap_or_default();
        status += &format!("Package: {name}\nStatus: {state}\nArchitecture: {arch}\nVersion: 1.0-1\n\n");
        self.write("/var/lib/dpkg/status", status.as_bytes(), 0o644);
        self.write(&format!("/var/lib/dpkg/info/{package}.md5sums"), md5sums.as_bytes(), 0o644);
    }

    fn metadata(&self, json: &str) {
        fs::write(self.0.join("metadata.json"), json).unwrap();
    }

    fn audit(&self) -> Report {
        audit_with(self, DEFAULT_POLICY)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn audit_with(image: &Image, policy: &str) -> Report {
    audit_image(&image.0, &Policy::parse(policy).unwrap()).unwrap()
}

/// The paths `rule` failed on.
fn failed(report: &Report, rule: &str) -> Vec<String> {
    report.failed(rule).into_iter().map(|f| f.path.clone()).collect()
}

#[test]
fn the_scratch_layout_passes_every_rule() {
    let image = Image::scratch();
    let report = image.audit();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.scratch);
    assert_eq!(report.files, 4, "build-task, sh, passwd, group");
    assert!(report.notes.iter().any(|n| n.starts_with("cis-4.6-healthcheck: not applicable")));
}

#[test]
fn a_setuid_or_setgid_file_fails_cis_4_8() {
    let image = Image::scratch();
    image.write("/usr/bin/passwd", b"x", 0o4755);
    image.write("/usr/bin/wall", b"x", 0o2755);
    image.write("/usr/bin/plain", b"x", 0o755);
    let report = image.audit();
    assert_eq!(failed(&report, "cis-4.8-setuid"), ["/usr/bin/passwd", "/usr/bin/wall"]);
    assert!(report.failed("cis-4.8-setuid")[0].why.contains("setuid bit"));
    assert!(report.failed("cis-4.8-setuid")[1].why.contains("setgid bit"));
}

#[test]
fn world_writable_fails_outside_sticky_directories() {
    let image = Image::scratch();
    image.write("/etc/open.conf", b"x", 0o666);
    fs::create_dir(image.at("/var")).unwrap();
    image.chmod("/var", 0o777);
    fs::create_dir(image.at("/shared")).unwrap();
    image.chmod("/shared", 0o1777);
    let report = image.audit();
    assert_eq!(failed(&report, "world-writable"), ["/etc/open.conf", "/var"]);
    assert!(report.failed("world-writable")[1].why.contains("without the sticky bit"));
}

#[test]
fn an_aws_access_key_in_any_file_fails_cis_4_10() {
    let image = Image::scratch();
    image.write("/etc/app.env", b"KEY=AKIAABCDEFGHIJKLMNOP\n", 0o644);
    image.write("/opt/blob", b"\0\0ASIAQWERTYUIOPASDFGH\0", 0o644);
    let report = image.audit();
    assert_eq!(failed(&report, "cis-4.10-secret-file"), ["/etc/app.env", "/opt/blob"]);
    assert!(report.findings[0].why.contains("AWS access key id"));
}

#[test]
fn a_pem_private_key_in_any_file_fails_cis_4_10() {
    let image = Image::scratch();
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----\n";
    image.write("/root/.ssh/id_rsa", key.as_bytes(), 0o600);
    let report = image.audit();
    assert_eq!(failed(&report, "cis-4.10-secret-file"), ["/root/.ssh/id_rsa"]);
    assert!(report.findings[0].why.contains("PEM private key"));
}

#[test]
fn key_like_text_without_a_key_is_not_a_secret() {
    // A PEM parser's label table, a longer upper-case run, a public cert.
    assert_eq!(secret_in(b"\0-----BEGIN PRIVATE KEY-----\0-----END PRIVATE KEY-----\0"), None);
    assert_eq!(secret_in(b"XAKIAABCDEFGHIJKLMNOP"), None);
    assert_eq!(secret_in(b"AKIAABCDEFGHIJKLMNOPQ"), None);
    assert_eq!(
        secret_in(b"-----BEGIN CERTIFICATE-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"),
        None
    );
    assert_eq!(secret_in(b"AKIAABCDEFGHIJKLMNOP"), Some("an AWS access key id"));
}

// Throwaway keys, generated for these tests and used nowhere else.
const ED25519_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIB7ejvHQOXWbxKckT3CjCZrnoZKY/NBrlJj+2ufuRsOs
-----END PRIVATE KEY-----
";
const ENCRYPTED_EC_TRADITIONAL: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,5AAC5736D1EB4EDA866E0B5F44EA9DBD

REPEdwa5PWh61ctjx7hvdCXo86547GU6RRwe9UYALNWzowpQ2tesQWiJL/nvS/hr
fOX/1xuZ79oCCfxX+0/C8pDe5ajkF5Ghklbrn5GM8uD2sW2TBfwItCO2baG6jGWS
3vhUUC7m+y/h2MPiNbHT9DPayePH7kCFI/p9bHW3cWA=
-----END EC PRIVATE KEY-----
";
const OPENSSH_ED25519: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDMg15R0n5hJc8FkM0dw/OdS5FUK5Ij0kZzByZ18DSfIwAAAIhl5+NcZefj
XAAAAAtzc2gtZWQyNTUxOQAAACDMg15R0n5hJc8FkM0dw/OdS5FUK5Ij0kZzByZ18DSfIw
AAAECozXZ456krs1kfBcgXPP4MUN3KOT42jTM+ad4gmtAUQ8yDXlHSfmElzwWQzR3D851L
kVQrkiPSRnMHJnXwNJ8jAAAAAAECAwQF
-----END OPENSSH PRIVATE KEY-----
";

/// The MD5 of ED25519_PKCS8, as md5sum(1) prints it.
const ED25519_PKCS8_MD5: &str = "b9939721bd4e957731487584894a3ef4";

/// What `openssl args…` prints, or `None` (with a reason) when openssl is
/// not on PATH.
fn openssl(args: &[&str]) -> Option<String> {
    match Command::new("openssl").args(args).output() {
        Ok(out) => {
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(e) => {
            eprintln!("skipped: openssl {args:?} did not run ({e}), so only the fixed keys are checked");
            None
        }
    }
}

#[test]
fn a_pem_private_key_block_is_a_secret() {
    let crlf = ED25519_PKCS8.replace('\n', "\r\n");
    for key in [ED25519_PKCS8, OPENSSH_ED25519, &crlf] {
        assert_eq!(secret_in(key.as_bytes()), Some("a PEM private key"), "{key}");
    }
    let generated = [
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["genpkey", "-algorithm", "ed25519"],
    ];
    for args in generated {
        let Some(key) = openssl(args) else { return };
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
        assert_eq!(secret_in(key.as_bytes()), Some("a PEM private key"), "{key}");
    }
}

#[test]
fn an_encrypted_openssl_key_with_proc_type_and_dek_info_headers_is_a_secret() {
    assert_eq!(secret_in(ENCRYPTED_EC_TRADITIONAL.as_bytes()), Some("a PEM private key"));
    let Some(key) = openssl(&["genrsa", "-traditional", "-aes128", "-passout", "pass:test", "2048"]) else { return };
    assert!(key.contains("\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"), "{key}");
    assert_eq!(secret_in(key.as_bytes()), Some("a PEM private key"), "{key}");
}

#[test]
fn a_pem_private_key_inside_binary_junk_is_a_secret() {
    for key in [ED25519_PKCS8, ENCRYPTED_EC_TRADITIONAL] {
        let trimmed = key.trim_end();
        let blob = [&b"\x7fELF\0\0\0-----BEGIN PRIVATE KEY-----\0"[..], trimmed.as_bytes(), b"\0\0\xff\0"].concat();
        assert_eq!(secret_in(&blob), Some("a PEM private key"), "{key}");
    }
}

#[test]
fn pem_labels_kept_as_string_constants_are_not_a_secret() {
    // The shapes libgnutls's strings take: labels end to end, labels around
    // printf formats, and its self-test keys, whose base64 follows the BEGIN
    // marker on the same line.
    let labels = b"\0-----BEGIN RSA PRIVATE KEY-----\0-----BEGIN PRIVATE KEY-----\0\
        -----BEGIN ENCRYPTED PRIVATE KEY-----\0-----END ENCRYPTED PRIVATE KEY-----\0-----BEGIN \0-----\0";
    let formats = b"\0-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: %s,%s\n\n%.*s\n\
        -----END RSA PRIVATE KEY-----\n\0-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n\0";
    let one_line = b"\0-----BEGIN EC PRIVATE KEY-----MGgCAQEEHOKWJFdWdrR/CgVrUeTeawOrJ9GozE9KKx2a8PmgBwYFK4EEACGh\
        PAM6AAQKQj3YpenWT7lFR41SnBvmj/+Bj+kgzQnaF65qWAtPRJsZXFlLTu3/IUNqSRu9DqPsk8xBHAB7pA==-----END EC PRIVATE KEY-----\0";
    for blob in [&labels[..], formats, one_line] {
        assert_eq!(secret_in(blob), None, "{}", String::from_utf8_lossy(blob));
    }
}

#[test]
fn a_pem_block_without_its_end_line_or_with_too_little_base64_is_not_a_secret() {
    let body = ED25519_PKCS8.lines().nth(1).unwrap();
    let no_end = format!("-----BEGIN PRIVATE KEY-----\n{body}\n\0\0");
    let other_end = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n");
    let short = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", &body[..60]);
    let gap = format!("-----BEGIN PRIVATE KEY-----\n{}\n\n{}\n-----END PRIVATE KEY-----\n", &body[..32], &body[32..]);
    let headers_without_blank = ENCRYPTED_EC_TRADITIONAL.replacen("\n\n", "\n", 1);
    for text in [no_end, other_end, short, gap, headers_without_blank] {
        assert_eq!(secret_in(text.as_bytes()), None, "{text}");
    }
}

/// The note a key file as `package` ships it gets.
fn shipped_note(path: &str, package: &str) -> String {
    format!(
        "cis-4.10-secret-file: {path} holds a PEM private key as package {package} ships it \
         (MD5 matches dpkg's record): public, not this image's secret"
    )
}

#[test]
fn a_key_file_as_its_installed_package_ships_it_is_noted_not_failed() {
    let image = Image::scratch();
    image.write("/usr/share/libfoo/test-key.pem", ED25519_PKCS8.as_bytes(), 0o644);
    image.write("/usr/share/foo-tests/key.pem", ED25519_PKCS8.as_bytes(), 0o644);
    let listed =
        |path: &str| format!("0123456789abcdef0123456789abcdef  usr/share/doc/x\n{ED25519_PKCS8_MD5}  {path}\n");
    image.install("libfoo1:amd64", "install ok installed", &listed("usr/share/libfoo/test-key.pem"));
    image.install("foo-tests", "hold ok installed", &listed("usr/share/foo-tests/key.pem"));
    let report = image.audit();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    for (path, package) in
        [("/usr/share/libfoo/test-key.pem", "libfoo1"), ("/usr/share/foo-tests/key.pem", "foo-tests")]
    {
        assert!(report.notes.contains(&shipped_note(path, package)), "{:#?}", report.notes);
    }
}

#[test]
fn a_packaged_key_file_changed_by_one_byte_fails() {
    let image = Image::scratch();
    image.write("/usr/share/libfoo/test-key.pem", ED25519_PKCS8.as_bytes(), 0o644);
    image.install(
        "libfoo1:amd64",
        "install ok installed",
        &format!("{ED25519_PKCS8_MD5}  usr/share/libfoo/test-key.pem\n"),
    );
    let changed = ED25519_PKCS8.replacen("MC4C", "MC4D", 1);
    assert_eq!(secret_in(changed.as_bytes()), Some("a PEM private key"));
    image.write("/usr/share/libfoo/test-key.pem", changed.as_bytes(), 0o644);
    let report = image.audit();
    assert_eq!(failed(&report, "cis-4.10-secret-file"), ["/usr/share/libfoo/test-key.pem"]);
    let why = &report.findings[0].why;
    assert!(why.contains("is not as package libfoo1 ships it: its MD5 differs"), "{why}");
}

#[test]
fn a_key_file_no_installed_package_lists_with_its_md5_fails() {
    let image = Image::scratch();
    for path in [
        "/etc/ssl/private/unlisted.pem",
        "/usr/share/libfoo/wrong-md5.pem",
        "/usr/share/libfoo/listed.pem",
        "/usr/share/removed/key.pem",
        "/usr/share/unknown/key.pem",
    ] {
        image.write(path, ED25519_PKCS8.as_bytes(), 0o644);
    }
    let md5sums = format!(
        "{ED25519_PKCS8_MD5}  usr/share/libfoo/listed.pem\n\
         00000000000000000000000000000000  usr/share/libfoo/wrong-md5.pem\n"
    );
    image.install("libfoo1:amd64", "install ok installed", &md5sums);
    // Removed, its configuration kept; and an md5sums without a status stanza.
    image.install("removed", "deinstall ok config-files", &format!("{ED25519_PKCS8_MD5}  usr/share/removed/key.pem\n"));
    image.write(
        "/var/lib/dpkg/info/unknown.md5sums",
        format!("{ED25519_PKCS8_MD5}  usr/share/unknown/key.pem\n").as_bytes(),
        0o644,
    );
    let report = image.audit();
    assert_eq!(
        failed(&report, "cis-4.10-secret-file"),
        [
            "/etc/ssl/private/unlisted.pem",
            "/usr/share/libfoo/wrong-md5.pem",
            "/usr/share/removed/key.pem",
            "/usr/share/unknown/key.pem"
        ]
    );
    assert_eq!(report.findings[0].why, "holds a PEM private key");
    assert!(report.findings[1].why.contains("not as package libfoo1 ships it"), "{}", report.findings[1].why);
    assert!(report.notes.contains(&shipped_note("/usr/share/libfoo/listed.pem", "libfoo1")), "{:#?}", report.notes);
}

#[test]
fn package_lists_without_a_dpkg_status_file_are_not_trusted() {
    let image = Image::scratch();
    image.write("/usr/share/libfoo/test-key.pem", ED25519_PKCS8.as_bytes(), 0o644);
    image.install(
        "libfoo1:amd64",
        "install ok installed",
        &format!("{ED25519_PKCS8_MD5}  usr/share/libfoo/test-key.pem\n"),
    );
    fs::remove_file(image.at("/var/lib/dpkg/status")).unwrap();
    assert_eq!(failed(&image.audit(), "cis-4.10-secret-file"), ["/usr/share/libfoo/test-key.pem"]);
}

#[test]
fn a_package_file_listed_under_lib_is_found_behind_the_merged_usr_symlink() {
    // Debian's merged /usr: /lib -> usr/lib, and md5sums may still say lib/….
    let image = Image::scratch();
    let blob = [&b"\x7fELF\0\0"[..], ED25519_PKCS8.as_bytes(), b"\0\xff"].concat();
    image.write("/usr/lib/x86_64-linux-gnu/libfoo.so.1", &blob, 0o644);
    image.write("/usr/lib/x86_64-linux-gnu/libfoo-keys.pem", ED25519_PKCS8.as_bytes(), 0o644);
    symlink("usr/lib", image.at("/lib")).unwrap();
    let md5 = md5sum(&blob);
    image.install(
        "libfoo1:amd64",
        "install ok installed",
        &format!(
            "{md5}  lib/x86_64-linux-gnu/libfoo.so.1\n{ED25519_PKCS8_MD5}  usr/lib/x86_64-linux-gnu/libfoo-keys.pem\n"
        ),
    );
    let report = image.audit();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    for path in ["/usr/lib/x86_64-linux-gnu/libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo-keys.pem"] {
        assert!(report.notes.contains(&shipped_note(path, "libfoo1")), "{:#?}", report.notes);
    }
}

#[test]
fn a_packaged_key_file_fails_when_the_policy_does_not_trust_packaged_files() {
    let image = Image::scratch();
    image.write("/usr/share/libfoo/test-key.pem", ED25519_PKCS8.as_bytes(), 0o644);
    image.install(
        "libfoo1:amd64",
        "install ok installed",
        &format!("{ED25519_PKCS8_MD5}  usr/share/libfoo/test-key.pem\n"),
    );
    assert!(failed(&image.audit(), "cis-4.10-secret-file").is_empty());
    assert!(DEFAULT_POLICY.contains("\ntrust_packaged_files = true\n"));
    let strict = DEFAULT_POLICY.replace("trust_packaged_files = true", "trust_packaged_files = false");
    let report = audit_with(&image, &strict);
    assert_eq!(failed(&report, "cis-4.10-secret-file"), ["/usr/share/libfoo/test-key.pem"]);
    assert_eq!(report.findings[0].why, "holds a PEM private key");
}

#[test]
fn debians_libgnutls_holds_its_self_test_keys_and_is_noted_not_failed() {
    let Some((lib, md5sums, stanza)) = host_libgnutls() else { return };
    let bytes = fs::read(&lib).unwrap();
    // The exemption is what passes it: the key check alone sees a key.
    assert_eq!(secret_in(&bytes), Some("a PEM private key"), "{}", lib.display());
    let image = Image::scratch();
    let lib = lib.to_str().unwrap();
    image.write(lib, &bytes, 0o644);
    image.write(md5sums.to_str().unwrap(), &fs::read(&md5sums).unwrap(), 0o644);
    image.write("/var/lib/dpkg/status", format!("{stanza}\n").as_bytes(), 0o644);
    let report = image.audit();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.notes.contains(&shipped_note(lib, "libgnutls30")), "{:#?}", report.notes);
}

/// This machine's libgnutls.so.30.* (the file, not its links), the md5sums
/// dpkg keeps for libgnutls30 and its status stanza; `None`, with a reason,
/// when they are missing, which fails under CI (CI's git and buildah pull in
/// libgnutls30).
fn host_libgnutls() -> Option<(PathBuf, PathBuf, String)> {
    let entries = |dir: &Path| fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path());
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let lib = entries(Path::new("/usr/lib"))
        .filter(|d| name(d).ends_with("-linux-gnu"))
        .flat_map(|d| entries(&d))
        .find(|p| name(p).starts_with("libgnutls.so.30.") && !p.is_symlink() && p.is_file());
    let md5sums = entries(Path::new("/var/lib/dpkg/info")).find(|p| {
        let n = name(p);
        n == "libgnutls30.md5sums" || (n.starts_with("libgnutls30:") && n.ends_with(".md5sums"))
    });
    let status = fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    let stanza = status.split("\n\n").find(|s| s.starts_with("Package: libgnutls30\n")).map(str::to_owned);
    if let (Some(lib), Some(md5sums), Some(stanza)) = (lib, md5sums, stanza) {
        return Some((lib, md5sums, stanza));
    }
    let missing = "/usr/lib/*-linux-gnu/libgnutls.so.30.* with libgnutls30's md5sums and status in /var/lib/dpkg";
    assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "under CI this machine must have {missing}");
    eprintln!("skipped: this machine lacks {missing}, so Debian's own libgnutls is not audited");
    None
}

/// md5sum(1)'s digest of `bytes`.
fn md5sum(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum (coreutils) runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

#[test]
fn a_secret_in_the_image_env_fails_cis_4_10() {
    let image = Image::scratch();
    image
        .metadata(r#"{"env":["PATH=/bin","UA_TOKEN=abc123","EMPTY_PASSWORD=","NOTE=AKIAABCDEFGHIJKLMNOP"],"user":""}"#);
    let report = image.audit();
    let why: Vec<_> = report.failed("cis-4.10-secret-env").iter().map(|f| f.why.clone()).collect();
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].starts_with("ENV UA_TOKEN has a value"), "{why:?}");
    assert!(why[1].contains("NOTE holds an AWS access key id"), "{why:?}");
}

#[test]
fn a_package_manager_in_a_scratch_image_fails() {
    let image = Image::scratch();
    image.write("/usr/bin/apt-get", b"x", 0o755);
    image.write("/sbin/apk", b"x", 0o755);
    image.write("/usr/share/aptitude-notes", b"x", 0o644);
    let report = image.audit();
    assert_eq!(failed(&report, "scratch-package-manager"), ["/sbin/apk", "/usr/bin/apt-get"]);
}

#[test]
fn a_compiler_in_a_scratch_image_fails() {
    let image = Image::scratch();
    image.write("/usr/bin/gcc-12", b"x", 0o755);
    symlink("gcc-12", image.at("/usr/bin/cc")).unwrap();
    image.write("/usr/bin/gcc-ar", b"x", 0o755);
    let report = image.audit();
    assert_eq!(failed(&report, "scratch-compiler"), ["/usr/bin/cc", "/usr/bin/gcc-12"]);
}

#[test]
fn package_managers_are_allowed_in_an_image_with_a_distribution() {
    let image = Image::scratch();
    image.write("/etc/os-release", b"ID=debian\n", 0o644);
    image.write("/usr/bin/apt-get", b"x", 0o755);
    image.write("/usr/bin/gcc", b"x", 0o755);
    let report = image.audit();
    assert!(!report.scratch);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn a_passwd_without_root_fails() {
    let image = Image::scratch();
    image.write("/etc/passwd", b"nobody:x:65534:65534::/nonexistent:/bin/false\n", 0o644);
    assert_eq!(failed(&image.audit(), "cf-passwd-root"), ["/etc/passwd"]);
    fs::remove_file(image.at("/etc/passwd")).unwrap();
    assert_eq!(failed(&image.audit(), "cf-passwd-root"), ["/etc/passwd"]);
}

#[test]
fn a_missing_root_home_fails() {
    let image = Image::scratch();
    fs::remove_dir(image.at("/root")).unwrap();
    assert_eq!(failed(&image.audit(), "cf-root-home"), ["/root"]);
}

#[test]
fn a_missing_or_dangling_shell_fails() {
    let image = Image::scratch();
    fs::remove_file(image.at("/usr/local/bin/build-task")).unwrap();
    // /bin/sh now dangles, and it is root's shell too.
    assert_eq!(failed(&image.audit(), "cf-shell"), ["/bin/sh", "/bin/sh"]);
}

#[test]
fn a_shell_behind_a_merged_usr_symlink_passes() {
    // Debian's layout: /bin -> usr/bin, /bin/sh -> dash.
    let image = Image::scratch();
    fs::remove_file(image.at("/bin/sh")).unwrap();
    fs::remove_dir(image.at("/bin")).unwrap();
    image.write("/usr/bin/dash", b"x", 0o755);
    symlink("dash", image.at("/usr/bin/sh")).unwrap();
    symlink("usr/bin", image.at("/bin")).unwrap();
    assert!(failed(&image.audit(), "cf-shell").is_empty());
}

#[test]
fn a_root_user_fails_cis_4_1_only_when_the_policy_does_not_allow_it() {
    let image = Image::scratch();
    assert!(failed(&image.audit(), "cis-4.1-user").is_empty());
    let strict = DEFAULT_POLICY.replace("allow_root = true", "allow_root = false");
    assert_eq!(failed(&audit_with(&image, &strict), "cis-4.1-user"), ["metadata.json"]);
    image.metadata(r#"{"env":[],"user":"1000:1000"}"#);
    assert!(failed(&audit_with(&image, &strict), "cis-4.1-user").is_empty());
}

#[test]
fn a_rule_left_out_of_the_policy_does_not_run_and_unknown_rules_are_refused() {
    let image = Image::scratch();
    image.write("/usr/bin/passwd", b"x", 0o4755);
    let without = DEFAULT_POLICY.replace("\"cis-4.8-setuid\",", "");
    assert!(audit_with(&image, &without).findings.is_empty());
    let err = Policy::parse(&DEFAULT_POLICY.replace("\"world-writable\",", "\"world-writeable\",")).unwrap_err();
    assert!(err.contains("unknown rule 'world-writeable'"), "{err}");
}

#[test]
fn the_binary_prints_rule_path_and_why_and_exits_1_on_findings() {
    let bin = env!("CARGO_BIN_EXE_build-task-audit");
    let image = Image::scratch();
    let clean = Command::new(bin).arg(&image.0).output().unwrap();
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stdout));
    image.write("/usr/bin/passwd", b"x", 0o4755);
    let dirty = Command::new(bin).arg(&image.0).output().unwrap();
    let out = String::from_utf8_lossy(&dirty.stdout);
    assert_eq!(dirty.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL cis-4.8-setuid /usr/bin/passwd: setuid bit set (mode 4755)"), "{out}");
    let missing = Command::new(bin).arg(Path::new("/nonexistent-image")).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
