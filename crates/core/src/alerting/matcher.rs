//! Label matchers as Alertmanager 0.25 defines them: the four operators, the
//! anchored Go (RE2) regular expressions, the `{a="b", c=~"x|y"}` syntax of
//! its configuration and of amtool, and the rules silences and routes rely on
//! (an absent label is the empty string).

use std::fmt;

use regex::Regex;

use super::labels::LabelSet;

/// `=`, `!=`, `=~`, `!~`. The order is Alertmanager's (`labels.MatchType`),
/// which its sort of matchers, and so its route keys, follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// The operator from API v2's `isRegex` and `isEqual` flags.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchOp {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a matcher could not be built or parsed. Positions are 1-based columns
/// (in characters) into the text given to the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid regular expression {pattern:?}: {message}")]
    InvalidRegex { pattern: String, message: String },
    /// Alertmanager's own words come first (`bad matcher format: ...`), then
    /// where and what was expected.
    #[error("bad matcher format: {token} (at character {column}): {expected}")]
    BadFormat {
        token: String,
        column: usize,
        expected: &'static str,
    },
    #[error(
        "matcher value contains unescaped double quote: {value} (at character {column}); write \\\" for a quote inside a value"
    )]
    UnescapedQuote { value: String, column: usize },
}

/// One label matcher. Two matchers are equal when name, operator and value
/// are; the compiled expression is derived from them.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// `^(?:value)$` for the regex operators, exactly as Alertmanager builds
    /// it (the value is pasted in, not escaped).
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; a regex operator compiles its value, anchored at
    /// both ends. The name is not checked: Alertmanager's parser allows `:`
    /// in names and the API allows any string, so callers that need a
    /// Prometheus label name check it with
    /// [`valid_label_name`](super::labels::valid_label_name).
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(compile_anchored(&value)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// The Alertmanager API v2 form: `{name, value, isRegex, isEqual}`.
    pub fn from_api(
        name: impl Into<String>,
        value: impl Into<String>,
        is_regex: bool,
        is_equal: bool,
    ) -> Result<Matcher, MatcherError> {
        Matcher::new(name, MatchOp::from_flags(is_regex, is_equal), value)
    }

    pub fn is_regex(&self) -> bool {
        matches!(self.op, MatchOp::Regex | MatchOp::NotRegex)
    }

    pub fn is_equal(&self) -> bool {
        matches!(self.op, MatchOp::Equal | MatchOp::Regex)
    }

    /// Whether a label value satisfies the matcher; pass "" for an absent
    /// label.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex_matches(value),
            MatchOp::NotRegex => !self.regex_matches(value),
        }
    }

    /// Whether the labels satisfy the matcher, an absent label being "".
    pub fn matches_labels(&self, labels: &LabelSet) -> bool {
        self.matches(labels.value(&self.name))
    }

    /// Whether the matcher matches the empty string in the sense of
    /// Alertmanager's silence validation: only `=""` and a `=~` whose
    /// expression matches "" count; `!=` and `!~` never do, even `!~".+"`.
    pub fn matches_empty(&self) -> bool {
        match self.op {
            MatchOp::Equal => self.value.is_empty(),
            MatchOp::Regex => self.regex_matches(""),
            MatchOp::NotEqual | MatchOp::NotRegex => false,
        }
    }

    fn regex_matches(&self, value: &str) -> bool {
        self.regex.as_ref().is_some_and(|re| re.is_match(value))
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op.hash(state);
        self.value.hash(state);
    }
}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Alertmanager's order (`labels.Matchers.Less`): name, then value, then
/// operator.
impl Ord for Matcher {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.value.cmp(&other.value))
            .then_with(|| self.op.cmp(&other.op))
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("name", &self.name)
            .field("op", &self.op)
            .field("value", &self.value)
            .finish()
    }
}

/// `name="value"` with OpenMetrics escaping, as Alertmanager 0.25 and amtool
/// print a matcher (no spaces around the operator).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op)?;
        for c in self.value.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '"' => f.write_str("\\\"")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        f.write_str("\"")
    }
}

/// Alertmanager's rendering of a list of matchers (`labels.Matchers.String`):
/// `{a="b",c=~"d"}`, comma without a space, in the given order. Route keys
/// and so group keys are built from it.
pub fn matchers_to_string(matchers: &[Matcher]) -> String {
    let mut s = String::from("{");
    for (i, m) in matchers.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&m.to_string());
    }
    s.push('}');
    s
}

/// Whether every matcher matches the labels (true for no matchers).
pub fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

/// Whether all matchers match the empty string (see
/// [`Matcher::matches_empty`]); Alertmanager refuses such a silence ("at
/// least one matcher must not match the empty string"). True for an empty
/// list, which Alertmanager refuses too.
pub fn matches_only_empty(matchers: &[Matcher]) -> bool {
    matchers.iter().all(Matcher::matches_empty)
}

/// Parses a list of matchers in Alertmanager's syntax: an optional `{` and
/// `}`, matchers separated by commas outside double quotes, a trailing comma
/// allowed. `{}` and "" give no matchers.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    // Alertmanager trims one `{` and one `}` independently, so `{a=b` is
    // accepted; so is it here.
    let start = usize::from(input.starts_with('{'));
    let mut end = input.len();
    if input.len() > start && input.ends_with('}') {
        end -= 1;
    }
    let body = &input[start..end];

    let mut tokens: Vec<(usize, &str)> = Vec::new();
    let mut inside_quotes = false;
    let mut escaped = false;
    let mut token_start = 0;
    for (i, c) in body.char_indices() {
        match c {
            ',' if !inside_quotes => {
                tokens.push((token_start, &body[token_start..i]));
                token_start = i + 1;
                continue;
            }
            // Inside quotes a comma leaves a pending escape pending, as in
            // Alertmanager's tokenizer.
            ',' => {}
            '"' => {
                if escaped {
                    escaped = false;
                } else {
                    inside_quotes = !inside_quotes;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    // Only the last token may be empty (a trailing comma); an empty token
    // between two commas is a bad matcher, as in Alertmanager.
    let last = &body[token_start..];
    if !last.trim().is_empty() {
        tokens.push((token_start, last));
    }

    tokens
        .into_iter()
        .map(|(offset, token)| parse_at(input, start + offset, token))
        .collect()
}

/// Parses one matcher: `name op value`, spaces allowed around each part, the
/// value optionally in double quotes with `\"`, `\\` and `\n` escapes (any
/// other backslash is literal).
pub fn parse_matcher(input: &str) -> Result<Matcher, MatcherError> {
    parse_at(input, 0, input)
}

/// The character column (1-based) of byte `offset` in `input`.
fn column(input: &str, offset: usize) -> usize {
    input[..offset.min(input.len())].chars().count() + 1
}

/// Go's `\s` in RE2: ASCII space, tab, newline, form feed, carriage return.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// Parses `token`, which starts at byte `base` of `input` (for columns).
fn parse_at(input: &str, base: usize, token: &str) -> Result<Matcher, MatcherError> {
    let bad = |at: usize, expected: &'static str| MatcherError::BadFormat {
        token: token.trim().to_string(),
        column: column(input, base + at),
        expected,
    };
    let bytes = token.as_bytes();
    let mut i = token.len() - token.trim_start_matches(is_go_space).len();

    // The name: [a-zA-Z_:][a-zA-Z0-9_:]*.
    let name_start = i;
    match bytes.get(i) {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' || *b == b':' => i += 1,
        _ => {
            return Err(bad(
                i,
                "expected a label name (letters, digits, '_' or ':', not starting with a digit)",
            ));
        }
    }
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b':')
    {
        i += 1;
    }
    let name = &token[name_start..i];
    i += token[i..].len() - token[i..].trim_start_matches(is_go_space).len();

    let rest = &token[i..];
    let (op, len) = if rest.starts_with("=~") {
        (MatchOp::Regex, 2)
    } else if rest.starts_with("!=") {
        (MatchOp::NotEqual, 2)
    } else if rest.starts_with("!~") {
        (MatchOp::NotRegex, 2)
    } else if rest.starts_with('=') {
        (MatchOp::Equal, 1)
    } else {
        return Err(bad(
            i,
            "expected an operator (=, !=, =~ or !~) after the label name",
        ));
    };
    i += len;
    i += token[i..].len() - token[i..].trim_start_matches(is_go_space).len();
    let raw = token[i..].trim_end_matches(is_go_space);
    let value = unescape(raw).map_err(|at| MatcherError::UnescapedQuote {
        value: raw.to_string(),
        column: column(input, base + i + at),
    })?;
    Matcher::new(name, op, value)
}

/// Alertmanager's unescaping of a matcher value: a leading `"` requires a
/// closing one at the very end; `\"`, `\\` and `\n` are escapes and any other
/// backslash is literal. Errors give the byte offset of the offending quote
/// (or the end, for a missing closing quote).
fn unescape(raw: &str) -> Result<String, usize> {
    let (body, quoted, skip) = match raw.strip_prefix('"') {
        Some(b) => (b, true, 1),
        None => (raw, false, 0),
    };
    let mut out = String::with_capacity(body.len());
    let mut expect_close = quoted;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => out.push('\n'),
                '"' | '\\' => out.push(c),
                _ => {
                    out.push('\\');
                    out.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if i + 1 < body.len() => escaped = true,
            '\\' => out.push('\\'),
            '"' => {
                if !expect_close || i + 1 < body.len() {
                    return Err(skip + i);
                }
                expect_close = false;
            }
            c => out.push(c),
        }
    }
    if expect_close {
        return Err(raw.len());
    }
    Ok(out)
}

/// Compiles `^(?:pattern)$` with Go's RE2 meaning.
fn compile_anchored(pattern: &str) -> Result<Regex, MatcherError> {
    let translated = go_to_rust_regex(pattern);
    Regex::new(&format!("^(?:{translated})$")).map_err(|e| MatcherError::InvalidRegex {
        pattern: pattern.to_string(),
        message: regex_error_message(&e),
    })
}

/// The regex crate's error, on one line (its syntax errors draw the pattern
/// over several lines).
fn regex_error_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(s.as_str())
            .to_string(),
        other => other.to_string(),
    }
}

/// Rewrites the few places where Go's RE2 syntax means something else in
/// the regex crate, so a pattern written for Alertmanager matches the same
/// strings here:
/// - `\d \w \s` (and their negations) are ASCII-only in Go, Unicode here;
/// - `\b \B` are ASCII word boundaries in Go;
/// - `\<` and `\>` are literal in Go, word boundaries here;
/// - `\Q...\E` quotes a literal in Go and does not exist here.
///
/// Everything else is passed through: an escape the regex crate does not
/// know (such as `\C`) is an error in both, or only here.
fn go_to_rust_regex(pattern: &str) -> String {
    if !pattern.contains('\\') {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            // A trailing backslash: leave it for the compiler to refuse.
            out.push('\\');
            break;
        };
        match next {
            'd' => out.push_str("[0-9]"),
            'D' => out.push_str("[^0-9]"),
            'w' => out.push_str("[0-9A-Za-z_]"),
            'W' => out.push_str("[^0-9A-Za-z_]"),
            's' => out.push_str(r"[\t\n\x0C\r ]"),
            'S' => out.push_str(r"[^\t\n\x0C\r ]"),
            'b' => out.push_str(r"(?-u:\b)"),
            'B' => out.push_str(r"(?-u:\B)"),
            '<' | '>' => out.push(next),
            'Q' => {
                let rest: String = chars.by_ref().collect();
                let (literal, after) = match rest.find("\\E") {
                    Some(at) => (&rest[..at], &rest[at + 2..]),
                    None => (rest.as_str(), ""),
                };
                out.push_str(&regex::escape(literal));
                out.push_str(&go_to_rust_regex(after));
                break;
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string()))).unwrap()
    }

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).unwrap()
    }

    #[test]
    fn the_four_operators() {
        let labels = set(&[("alertname", "HighLatency"), ("env", "prod")]);
        assert!(m("env", MatchOp::Equal, "prod").matches_labels(&labels));
        assert!(!m("env", MatchOp::Equal, "dev").matches_labels(&labels));
        assert!(m("env", MatchOp::NotEqual, "dev").matches_labels(&labels));
        assert!(!m("env", MatchOp::NotEqual, "prod").matches_labels(&labels));
        assert!(m("alertname", MatchOp::Regex, "High.*").matches_labels(&labels));
        assert!(!m("alertname", MatchOp::NotRegex, "High.*").matches_labels(&labels));
        assert!(m("env", MatchOp::NotRegex, "dev|staging").matches_labels(&labels));
    }

    #[test]
    fn an_absent_label_is_the_empty_string() {
        let labels = set(&[("alertname", "A")]);
        // `!=` matches a label the alert does not have.
        assert!(m("team", MatchOp::NotEqual, "db").matches_labels(&labels));
        assert!(m("team", MatchOp::Equal, "").matches_labels(&labels));
        assert!(m("team", MatchOp::Regex, "").matches_labels(&labels));
        assert!(m("team", MatchOp::Regex, "db|").matches_labels(&labels));
        assert!(!m("team", MatchOp::Regex, ".+").matches_labels(&labels));
        assert!(m("team", MatchOp::NotRegex, ".+").matches_labels(&labels));
        assert!(!m("team", MatchOp::NotEqual, "").matches_labels(&labels));
        assert!(!m("alertname", MatchOp::Equal, "").matches_labels(&labels));
    }

    #[test]
    fn regexes_are_anchored() {
        let r = m("a", MatchOp::Regex, "foo");
        assert!(r.matches("foo"));
        assert!(!r.matches("foobar"));
        assert!(!r.matches("barfoo"));
        // The alternation stays inside the anchors.
        let alt = m("a", MatchOp::Regex, "x|y");
        assert!(alt.matches("y"));
        assert!(!alt.matches("xy"));
        // `.` does not cross a newline, as in Go.
        assert!(!m("a", MatchOp::Regex, ".*").matches("a\nb"));
        assert!(m("a", MatchOp::Regex, "(?s).*").matches("a\nb"));
        assert!(m("a", MatchOp::Regex, "(?i)foo").matches("FOO"));
    }

    #[test]
    fn go_regex_classes_are_ascii() {
        let d = m("a", MatchOp::Regex, r"\d+");
        assert!(d.matches("0123"));
        assert!(!d.matches("٣")); // Arabic-Indic three: a digit in Unicode, not in Go.
        assert!(m("a", MatchOp::Regex, r"\w+").matches("a_Z9"));
        assert!(!m("a", MatchOp::Regex, r"\w+").matches("é"));
        assert!(m("a", MatchOp::Regex, r"\W").matches("é"));
        assert!(m("a", MatchOp::Regex, r"[\d.]+").matches("1.2"));
        assert!(m("a", MatchOp::Regex, r"[^\d]+").matches("ab"));
        assert!(!m("a", MatchOp::Regex, r"[^\d]+").matches("a1"));
        assert!(m("a", MatchOp::Regex, r"a\sb").matches("a b"));
        assert!(m("a", MatchOp::Regex, r"\bfoo\b.*").matches("foo bar"));
        assert!(m("a", MatchOp::Regex, r"\<x\>").matches("<x>"));
        assert!(m("a", MatchOp::Regex, r"\Q1.5*\E!").matches("1.5*!"));
        assert!(!m("a", MatchOp::Regex, r"\Q1.5\E").matches("105"));
        assert!(m("a", MatchOp::Regex, r"\\d").matches(r"\d"));
        assert!(m("a", MatchOp::Regex, r"\.").matches("."));
        assert!(m("a", MatchOp::Regex, "(?P<x>a)b").matches("ab"));
        assert!(m("a", MatchOp::Regex, "[[:alpha:]]+").matches("abc"));
    }

    #[test]
    fn common_patterns_compile() {
        for p in [
            "5..",
            "^(foo|bar)$",
            "(?i)prod.*",
            r"api-\d{2,3}\.example\.com",
            "[a-z0-9-]+",
            ".*(?:error|fail).*",
            "",
            "a{0,1000}",
            r"\x41\t",
        ] {
            Matcher::new("a", MatchOp::Regex, p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn an_invalid_regex_names_the_pattern() {
        let e = Matcher::new("a", MatchOp::Regex, "(").unwrap_err();
        let MatcherError::InvalidRegex { pattern, message } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(pattern, "(");
        assert!(!message.contains('\n'), "{message}");
        assert!(
            e.to_string()
                .starts_with("invalid regular expression \"(\": ")
        );
        assert!(Matcher::new("a", MatchOp::NotRegex, "a[").is_err());
        // The same text is fine for the non-regex operators.
        assert!(Matcher::new("a", MatchOp::Equal, "(").is_ok());
        // A value cannot escape the anchoring group to make it invalid either.
        assert!(Matcher::new("a", MatchOp::Regex, "a)").is_err());
    }

    #[test]
    fn api_flags() {
        let cases = [
            (false, true, MatchOp::Equal),
            (false, false, MatchOp::NotEqual),
            (true, true, MatchOp::Regex),
            (true, false, MatchOp::NotRegex),
        ];
        for (is_regex, is_equal, op) in cases {
            let x = Matcher::from_api("n", "v", is_regex, is_equal).unwrap();
            assert_eq!(x.op, op);
            assert_eq!(x.is_regex(), is_regex);
            assert_eq!(x.is_equal(), is_equal);
        }
        assert!(Matcher::from_api("n", "(", true, true).is_err());
    }

    #[test]
    fn display_as_amtool_prints() {
        assert_eq!(
            m("alertname", MatchOp::Equal, "Foo").to_string(),
            r#"alertname="Foo""#
        );
        assert_eq!(m("a", MatchOp::Regex, "x.*").to_string(), r#"a=~"x.*""#);
        assert_eq!(m("a", MatchOp::NotEqual, "").to_string(), r#"a!="""#);
        assert_eq!(
            m("a", MatchOp::NotEqual, "q\"\\\n").to_string(),
            r#"a!="q\"\\\n""#
        );
        assert_eq!(
            matchers_to_string(&[m("a", MatchOp::Equal, "1"), m("b", MatchOp::Regex, "2")]),
            r#"{a="1",b=~"2"}"#
        );
        assert_eq!(matchers_to_string(&[]), "{}");
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        for x in [
            m("a", MatchOp::Equal, "plain"),
            m("a", MatchOp::NotEqual, "q\"\\\nz, {x}"),
            m("b", MatchOp::Regex, r"\d+,\s"),
            m("c", MatchOp::NotEqual, ""),
        ] {
            assert_eq!(parse_matcher(&x.to_string()).unwrap(), x);
            assert_eq!(
                parse_matchers(&format!("{{{x}, {x}}}")).unwrap(),
                [x.clone(), x.clone()]
            );
        }
    }

    #[test]
    fn equality_and_order_ignore_the_compiled_regex() {
        assert_eq!(m("a", MatchOp::Regex, "x"), m("a", MatchOp::Regex, "x"));
        assert_ne!(m("a", MatchOp::Regex, "x"), m("a", MatchOp::Equal, "x"));
        let mut v = vec![
            m("b", MatchOp::Equal, "1"),
            m("a", MatchOp::Regex, "2"),
            m("a", MatchOp::Equal, "2"),
            m("a", MatchOp::NotEqual, "1"),
        ];
        v.sort();
        assert_eq!(matchers_to_string(&v), r#"{a!="1",a="2",a=~"2",b="1"}"#);
    }

    #[test]
    fn parse_lists_with_and_without_braces() {
        let want = vec![m("a", MatchOp::Equal, "b"), m("c", MatchOp::Regex, "x|y")];
        for input in [
            r#"{a="b", c=~"x|y"}"#,
            r#"{a="b",c=~"x|y"}"#,
            r#"a=b,c=~"x|y""#,
            r#"  a = "b" ,  c =~ x|y  "#,
            r#"{a="b", c=~"x|y", }"#,
            r#"a=b,c=~x|y,"#,
        ] {
            assert_eq!(parse_matchers(input).unwrap(), want, "{input}");
        }
        assert_eq!(
            parse_matchers(r#"a=b,c!~"y""#).unwrap(),
            vec![m("a", MatchOp::Equal, "b"), m("c", MatchOp::NotRegex, "y")]
        );
        assert_eq!(parse_matchers("{}").unwrap(), vec![]);
        assert_eq!(parse_matchers("").unwrap(), vec![]);
        assert_eq!(parse_matchers("  ").unwrap(), vec![]);
        // Commas and braces inside quotes belong to the value.
        assert_eq!(
            parse_matchers(r#"{quote="She said: \"Hi, all\"", x="{}"}"#).unwrap(),
            vec![
                m("quote", MatchOp::Equal, "She said: \"Hi, all\""),
                m("x", MatchOp::Equal, "{}")
            ]
        );
        // Alertmanager trims a lone brace on either side.
        assert_eq!(
            parse_matchers("{a=b").unwrap(),
            vec![m("a", MatchOp::Equal, "b")]
        );
        assert_eq!(
            parse_matchers("a=b}").unwrap(),
            vec![m("a", MatchOp::Equal, "b")]
        );
    }

    #[test]
    fn parse_one_matcher() {
        assert_eq!(
            parse_matcher("a=~5..").unwrap(),
            m("a", MatchOp::Regex, "5..")
        );
        assert_eq!(
            parse_matcher("a!=b").unwrap(),
            m("a", MatchOp::NotEqual, "b")
        );
        assert_eq!(
            parse_matcher("a!~b").unwrap(),
            m("a", MatchOp::NotRegex, "b")
        );
        // The first operator wins: the value of `a=~=x` is `=x`, of `a!==x` is `=x`.
        assert_eq!(
            parse_matcher("a=~=x").unwrap(),
            m("a", MatchOp::Regex, "=x")
        );
        assert_eq!(
            parse_matcher("a!==x").unwrap(),
            m("a", MatchOp::NotEqual, "=x")
        );
        assert_eq!(parse_matcher("a==x").unwrap(), m("a", MatchOp::Equal, "=x"));
        assert_eq!(parse_matcher("a=").unwrap(), m("a", MatchOp::Equal, ""));
        assert_eq!(
            parse_matcher(r#"a="""#).unwrap(),
            m("a", MatchOp::Equal, "")
        );
        assert_eq!(parse_matcher("ns:sub_1=x").unwrap().name, "ns:sub_1");
        assert_eq!(parse_matcher("a = b c ").unwrap().value, "b c");
        assert_eq!(parse_matcher(r#"a=" b ""#).unwrap().value, " b ");
        // Escapes: \" \\ \n; any other backslash is literal, also at the end.
        assert_eq!(
            parse_matcher(r#"a="x\"y\\z\nw\d""#).unwrap().value,
            "x\"y\\z\nw\\d"
        );
        assert_eq!(parse_matcher(r"a=x\").unwrap().value, "x\\");
        assert_eq!(parse_matcher(r"a=x\\").unwrap().value, "x\\");
        assert_eq!(parse_matcher("a=ünï").unwrap().value, "ünï");
    }

    #[test]
    fn parse_errors_name_the_problem_and_the_column() {
        let e = parse_matchers("{foo").unwrap_err();
        assert_eq!(
            e,
            MatcherError::BadFormat {
                token: "foo".into(),
                column: 5,
                expected: "expected an operator (=, !=, =~ or !~) after the label name"
            }
        );
        assert!(
            e.to_string()
                .starts_with("bad matcher format: foo (at character 5): ")
        );

        let e = parse_matchers(r#"a="1", 2b="x""#).unwrap_err();
        assert!(
            matches!(&e, MatcherError::BadFormat { token, column: 8, .. } if token == r#"2b="x""#),
            "{e:?}"
        );
        assert!(e.to_string().contains("expected a label name"));

        let e = parse_matchers("a=b,,c=d").unwrap_err();
        assert!(
            matches!(&e, MatcherError::BadFormat { token, column: 5, .. } if token.is_empty()),
            "{e:?}"
        );

        let e = parse_matcher(r#"a="b"c""#).unwrap_err();
        assert_eq!(
            e,
            MatcherError::UnescapedQuote {
                value: r#""b"c""#.into(),
                column: 5
            }
        );
        assert!(
            e.to_string()
                .starts_with("matcher value contains unescaped double quote")
        );
        assert!(matches!(
            parse_matcher(r#"a="open"#),
            Err(MatcherError::UnescapedQuote { column: 8, .. })
        ));
        assert!(matches!(
            parse_matcher(r#"a=x""#),
            Err(MatcherError::UnescapedQuote { column: 4, .. })
        ));
        assert!(matches!(
            parse_matcher(r#"a=""#),
            Err(MatcherError::UnescapedQuote { .. })
        ));
        // An unterminated quote swallows the separator, as in Alertmanager.
        assert!(parse_matchers(r#"a="x, b=y"#).is_err());
        assert!(matches!(
            parse_matcher("a=~("),
            Err(MatcherError::InvalidRegex { .. })
        ));
        assert!(parse_matcher("=x").is_err());
        assert!(parse_matcher("a-b=x").is_err());
        assert!(parse_matcher("a~=x").is_err());
    }

    #[test]
    fn all_and_only_empty() {
        let labels = set(&[("alertname", "A"), ("env", "prod")]);
        let ms = parse_matchers(r#"alertname="A", env=~"prod|dev", team!="db""#).unwrap();
        assert!(matches_all(&ms, &labels));
        assert!(!matches_all(&parse_matchers("env=dev").unwrap(), &labels));
        assert!(matches_all(&[], &labels));

        assert!(matches_only_empty(&parse_matchers(r#"a="""#).unwrap()));
        assert!(matches_only_empty(
            &parse_matchers(r#"a=~".*", b="""#).unwrap()
        ));
        assert!(matches_only_empty(&parse_matchers(r#"a=~"x|""#).unwrap()));
        assert!(!matches_only_empty(
            &parse_matchers(r#"a=~".*", b="x""#).unwrap()
        ));
        assert!(!matches_only_empty(&parse_matchers(r#"a=~".+""#).unwrap()));
        // Alertmanager only counts `=` and `=~` as matching the empty string.
        assert!(!matches_only_empty(&parse_matchers(r#"a!~".+""#).unwrap()));
        assert!(!matches_only_empty(&parse_matchers(r#"a!="x""#).unwrap()));
        assert!(matches_only_empty(&[]));
    }
}
