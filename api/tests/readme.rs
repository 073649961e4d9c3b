//! The README and the docs link only to files inside the repository (or to their own
//! headings): a user who clones it finds every link working, offline.

use std::path::Path;

/// The targets of the Markdown links `[text](target)` of `text`.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find(')') {
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

#[test]
fn every_link_of_the_readme_and_docs_is_a_file_of_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut documents = vec![root.join("README.md"), root.join("BENCHMARKS.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let mut checked = 0;
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        for link in links(&text) {
            if link.starts_with('#') {
                continue;
            }
            assert!(
                !link.contains("://") && !link.starts_with("mailto:"),
                "{} links outside the repository: {link}",
                document.display()
            );
            let file = link.split('#').next().unwrap();
            let target = document.parent().unwrap().join(file);
            assert!(
                target.exists(),
                "{} links to {link}, which is not in the repository",
                document.display()
            );
            let inside = target.canonicalize().unwrap();
            assert!(
                inside.starts_with(root.canonicalize().unwrap()),
                "{} links to {link}, outside the repository",
                document.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 5,
        "found only {checked} links: is the parser right?"
    );
}

#[test]
fn links_are_found_in_markdown() {
    assert_eq!(
        links("see [a](docs/A.md) and [b](#b), not (c)"),
        ["docs/A.md", "#b"]
    );
}
