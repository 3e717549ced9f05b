//! `nines check`: every problem, with its file, line and column.

use std::path::Path;

use nines_config::LoadError;

use crate::Outcome;
use crate::exit;

pub fn run(path: &Path, quiet: bool) -> Outcome {
    match nines_config::load(path) {
        Ok(loaded) => {
            let mut stderr = String::new();
            for w in &loaded.warnings {
                stderr.push_str(&loaded.render(w));
                stderr.push('\n');
            }
            let stdout = if quiet {
                String::new()
            } else {
                let counts: Vec<String> = loaded
                    .catalog
                    .counts()
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                    .collect();
                format!(
                    "ok: {} file(s), {}; {} warning(s)\n",
                    loaded.files.len(),
                    if counts.is_empty() {
                        "no objects".to_owned()
                    } else {
                        counts.join(", ")
                    },
                    loaded.warnings.len()
                )
            };
            Outcome {
                stdout,
                stderr,
                code: exit::OK,
            }
        }
        Err(e @ LoadError::Unreadable { .. }) => Outcome {
            stdout: String::new(),
            stderr: e.render(),
            code: exit::USAGE,
        },
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: format!("{}\n{} error(s) found\n", e.render(), e.error_count()),
            code: exit::FAILURE,
        },
    }
}
