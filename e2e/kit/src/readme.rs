//! The README's code, run as a reader would run it.

/// Runs the README's Node.js `verify(header, signed, secret)` on a signature; prints its
/// answer (`true` or `false`).
pub fn node_verify(header: &str, signed: &str, secret: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README");
    let start = readme
        .find("```js\n// Node.js\n")
        .expect("the README's Node.js check");
    let snippet = &readme[start + "```js\n".len()..];
    let snippet = &snippet[..snippet.find("```").unwrap()];
    let script = format!(
        "{snippet}\nconst [header, signed, secret] = process.argv.slice(1);\n\
         console.log(String(verify(header, signed, secret)));"
    );
    let output = std::process::Command::new("node")
        .args(["-e", &script, header, signed, secret])
        .output()
        .expect("node runs (make test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
