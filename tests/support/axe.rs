//! axe-core for the scan tests: the npm package the image installs, fetched
//! once into target/npm-axe with npm (CI installs it the same way).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// What a crawl of the shared fixture site (fixtures/axe/site) from `/`
/// finds: every linked page, each once. A broken image map
/// link (x.html, a 404) and off-site links are not pages; nolang.html and
/// media.html are linked from nowhere (the original's list of URLs was
/// written by hand).
pub const FIXTURE_SITE_PAGES: &[&str] = &[
    "/",
    "/index.html",
    "/forms.html",
    "/links.html",
    "/images.html",
    "/contrast.html",
    "/aria.html",
    "/clean.html",
    "/sub/deep.html",
];

/// The version build.sh pins.
pub const AXE_VERSION: &str = "4.13.0";

/// axe.min.js of axe-core [`AXE_VERSION`], installing it when missing; None
/// (the test skips) when npm is not there either.
pub fn axe_js() -> Option<PathBuf> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm-axe");
    let pkg = dir.join("node_modules/axe-core");
    let wanted = format!("\"version\": \"{AXE_VERSION}\"");
    let installed = std::fs::read_to_string(pkg.join("package.json")).is_ok_and(|p| p.contains(&wanted));
    if !installed {
        if !super::have_tool("npm") {
            return None;
        }
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("axe-core@{AXE_VERSION}"))
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm install axe-core@{AXE_VERSION} failed");
    }
    let js = pkg.join("axe.min.js");
    assert!(js.is_file(), "{} is missing after npm install", js.display());
    Some(js)
}
