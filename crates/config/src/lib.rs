//! Config as code: reads OpenSLO v1 documents as they are, plus nines' own
//! `nines/v1` kinds, from one YAML file or a directory of them, and builds a
//! cross-checked [`Catalog`]. Every problem comes back as a [`Diagnostic`]
//! with a file, a line, a column and a message a person can act on.
//!
//! Only this crate knows YAML.

pub mod alertmanager;
mod decode;
pub mod diag;
pub mod ical;
mod link;
pub mod scenario;
pub mod template;
mod yaml;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Pos, Severity};
use nines_core::model::Catalog;

/// Files larger than this are refused before parsing: a configuration this
/// big is a mistake (or an attack), and parsing it would hold the reload.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// More files than this in a config directory is almost certainly the wrong
/// directory.
pub const MAX_FILES: usize = 10_000;

/// A configuration that passed every check.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    /// Problems that do not stop the configuration from being used.
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
    /// A stable digest of every file's path and content, so that a reload of
    /// an unchanged configuration can be recognised.
    pub digest: String,
    sources: BTreeMap<PathBuf, String>,
}

impl Loaded {
    pub fn render(&self, d: &Diagnostic) -> String {
        d.render(self.sources.get(&d.file).map(String::as_str))
    }
}

#[derive(Debug)]
pub enum LoadError {
    /// The input could not be read at all (missing, unreadable, empty directory).
    Unreadable { path: PathBuf, reason: String },
    /// The input was read and is wrong; every problem found is listed.
    Invalid {
        diagnostics: Vec<Diagnostic>,
        sources: BTreeMap<PathBuf, String>,
    },
}

impl LoadError {
    /// Every diagnostic with its source line, or the one line that says why
    /// nothing could be read.
    pub fn render(&self) -> String {
        match self {
            LoadError::Unreadable { path, reason } => {
                format!("error: cannot read {}: {reason}\n", path.display())
            }
            LoadError::Invalid {
                diagnostics,
                sources,
            } => render_all(diagnostics, sources),
        }
    }

    pub fn error_count(&self) -> usize {
        match self {
            LoadError::Unreadable { .. } => 1,
            LoadError::Invalid { diagnostics, .. } => {
                diagnostics.iter().filter(|d| d.is_error()).count()
            }
        }
    }
}

fn render_all(diags: &[Diagnostic], sources: &BTreeMap<PathBuf, String>) -> String {
    diags
        .iter()
        .map(|d| d.render(sources.get(&d.file).map(String::as_str)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads `path`, a YAML file or a directory searched recursively for
/// `*.yaml` and `*.yml` files (hidden ones skipped), in name order.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let unreadable = |p: &Path, reason: String| LoadError::Unreadable {
        path: p.to_path_buf(),
        reason,
    };
    let meta = fs::metadata(path).map_err(|e| unreadable(path, e.to_string()))?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        collect_yaml(path, &mut files).map_err(|(p, e)| unreadable(&p, e))?;
        files.sort();
        if files.is_empty() {
            return Err(unreadable(
                path,
                "the directory holds no .yaml or .yml file".into(),
            ));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut inputs = Vec::with_capacity(files.len());
    let mut diags = Vec::new();
    for file in &files {
        let size = fs::metadata(file)
            .map_err(|e| unreadable(file, e.to_string()))?
            .len();
        if size > MAX_FILE_BYTES {
            diags.push(
                Diagnostic::error(
                    Pos::new(1, 1),
                    format!(
                        "file is {:.1} MB; a config file may be at most {} MiB",
                        size as f64 / 1e6,
                        MAX_FILE_BYTES / 1024 / 1024
                    ),
                )
                .with_help("split it into several files in one directory")
                .in_file(file),
            );
            continue;
        }
        let bytes = fs::read(file).map_err(|e| unreadable(file, e.to_string()))?;
        match String::from_utf8(bytes) {
            Ok(text) => inputs.push((file.clone(), text)),
            Err(e) => {
                let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
                diags.push(
                    Diagnostic::error(Pos::new(line, 1), "the file is not valid UTF-8 text")
                        .with_help("save it as UTF-8")
                        .in_file(file),
                );
            }
        }
    }
    load_texts(inputs, diags)
}

/// Checks in-memory documents, as if each were a file of that name.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, LoadError> {
    load_texts(vec![(PathBuf::from(name), text.to_owned())], Vec::new())
}

fn load_texts(
    inputs: Vec<(PathBuf, String)>,
    mut diags: Vec<Diagnostic>,
) -> Result<Loaded, LoadError> {
    let mut drafts = decode::Drafts::default();
    let mut digest = Fnv::new();
    for (file, text) in &inputs {
        digest.write(file.to_string_lossy().as_bytes());
        digest.write(&[0]);
        digest.write(text.as_bytes());
        digest.write(&[0]);
        match yaml::parse(text) {
            Err(d) => diags.push(d.in_file(file)),
            Ok(docs) => {
                let mut decoder = decode::Decoder::new(file);
                for doc in &docs {
                    decoder.document(&doc.root, &mut drafts);
                }
                diags.extend(decoder.diags);
            }
        }
    }
    // Files the configuration reads (imported calendars) count in its digest,
    // so a changed calendar is a changed configuration.
    for (file, text) in &drafts.extra_sources {
        digest.write(file.to_string_lossy().as_bytes());
        digest.write(&[0]);
        digest.write(text.as_bytes());
        digest.write(&[0]);
    }
    let mut sources: BTreeMap<PathBuf, String> = inputs.into_iter().collect();
    sources.extend(std::mem::take(&mut drafts.extra_sources));
    // Cross-references are only worth checking once every object could be
    // read: an unknown reference to an object that failed to parse would
    // only repeat the first error.
    if diags.iter().any(Diagnostic::is_error) {
        diags.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        return Err(LoadError::Invalid {
            diagnostics: diags,
            sources,
        });
    }
    let (catalog, link_diags) = link::link(drafts);
    diags.extend(link_diags);
    diags.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(LoadError::Invalid {
            diagnostics: diags,
            sources,
        });
    }
    Ok(Loaded {
        catalog,
        warnings: diags,
        files: sources.keys().cloned().collect(),
        digest: format!("{:016x}", digest.finish()),
        sources,
    })
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, String)> {
    let entries = fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_path_buf(), e.to_string()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let ft = entry
            .file_type()
            .map_err(|e| (path.clone(), e.to_string()))?;
        if ft.is_dir() {
            collect_yaml(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
            if out.len() > MAX_FILES {
                return Err((
                    dir.to_path_buf(),
                    format!("more than {MAX_FILES} YAML files: is this the right directory?"),
                ));
            }
        }
    }
    Ok(())
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, unlike
/// `DefaultHasher`, so a digest stored by one build matches the next.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
